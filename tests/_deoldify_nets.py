"""Stand-in DeOldify networks shared by the colorize tests (built once per test session)."""
from __future__ import annotations

from restoration_lib import models

_CACHE: dict = {}


def standin_state_dict(make_checkpoint, reference_dir, variant: str, seed: int):
    """make_checkpoint's stand-in state_dict for ``variant`` (artistic/stable) and ``seed`` (not cached)."""
    manifest = make_checkpoint.load_manifest(reference_dir / "deoldify" / f"{variant}.manifest.json")
    return make_checkpoint.make_state_dict(manifest, seed)


def standin_net(make_checkpoint, reference_dir, variant: str, seed: int):
    """The finalized network ``models.load`` returns for the stand-in checkpoint (cached for the session)."""
    if (variant, seed) not in _CACHE:
        sd = standin_state_dict(make_checkpoint, reference_dir, variant, seed)
        _CACHE[(variant, seed)] = models.load(f"deoldify-{variant}", sd)
    return _CACHE[(variant, seed)]
