"""The registry of network architectures and the one way to load a checkpoint into them.

>>> from restoration_lib import models
>>> net = models.load("rife-4.0", "weights/rife/flownet.pkl", device="cpu")   # doctest: +SKIP

Architectures live in :mod:`restoration_lib.archs` (plain PyTorch, attribute names that reproduce the
official state_dict keys). Each architecture module exposes ``SPECS``, a list of :class:`ModelSpec`; this
module collects them lazily from the modules named in ``_ARCH_MODULES``.
"""
from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Optional, Union

import torch
from torch import nn

from ..device import DeviceLike, pick_device
from ..errors import CheckpointError
from .loading import _archive_members, canonicalize_state_dict, describe_mismatch, load_checkpoint_file, read_member
from .sizes import SizeRequirements, pad_to_multiple, round_to_multiple

__all__ = [
    "ModelSpec", "SizeRequirements", "LoadedModel", "load", "open", "names", "get_spec", "build", "expected_shapes",
    "member_path", "members", "pad_to_multiple", "round_to_multiple",
]

# Modules that define SPECS. A module that is not there (yet) is skipped by names()/get_spec().
_ARCH_MODULES = (
    "restoration_lib.archs.deoldify",
    "restoration_lib.archs.bopbtl",
    "restoration_lib.archs.bopbtl_face",
    "restoration_lib.archs.rife",
    "restoration_lib.archs.rife4x",
    "restoration_lib.archs.superslomo",
    "restoration_lib.archs.ddcolor",
    "restoration_lib.archs.dain",
)


@dataclass(frozen=True)
class ModelSpec:
    """How to build one named network and load its published checkpoint.

    Attributes:
        name: registry name, e.g. ``"deoldify-artistic"``.
        build: returns a freshly initialised module whose ``state_dict()`` keys are the official ones.
        description: one line for users (what it is, speed, licence).
        weights_id: id in the weights registry (``restoration_lib/registry.toml``) of the published file.
        prepare: optional hook mapping a canonicalised state_dict to the keys ``build()`` expects
            (e.g. drop RIFE's training-only ``block_tea``, merge Super SloMo's two dicts).
        finalize: optional hook run on the loaded module (e.g. fold spectral norm into plain weights).
        size: size requirements of the network's input.
        tiling: ``"supported"``, ``"discouraged"`` or ``"internal"`` (needs the whole image).
        dtypes: the compute dtypes the network runs in (float32 always; bfloat16 on CPUs, float16 on GPUs
            where its fast mode keeps its accuracy bound).
    """

    name: str
    build: Callable[[], nn.Module]
    description: str = ""
    weights_id: Optional[str] = None
    prepare: Optional[Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]] = None
    finalize: Optional[Callable[[nn.Module], nn.Module]] = None
    size: SizeRequirements = field(default_factory=SizeRequirements)
    tiling: Literal["supported", "discouraged", "internal"] = "supported"
    dtypes: tuple[torch.dtype, ...] = (torch.float32, torch.bfloat16, torch.float16)


_SPECS: dict[str, ModelSpec] = {}
_LOADED_MODULES: set[str] = set()


def _collect() -> dict[str, ModelSpec]:
    for mod_name in _ARCH_MODULES:
        if mod_name in _LOADED_MODULES:
            continue
        if importlib.util.find_spec(mod_name) is None:
            continue
        mod = importlib.import_module(mod_name)
        for spec in getattr(mod, "SPECS", ()):
            if spec.name in _SPECS and _SPECS[spec.name] is not spec:
                raise RuntimeError(f"two architectures registered under the name {spec.name!r}")
            _SPECS[spec.name] = spec
        _LOADED_MODULES.add(mod_name)
    return _SPECS


def names() -> list[str]:
    """Names of every registered network."""
    return sorted(_collect())


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` registered under ``name``.

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    specs = _collect()
    if name not in specs:
        raise ValueError(f"unknown network {name!r}; known networks: {', '.join(sorted(specs)) or '(none)'}")
    return specs[name]


def build(name: str) -> nn.Module:
    """A freshly initialised (random weights) network; for tests and shape checks only."""
    return get_spec(name).build()


_SHAPES_CACHE: dict[str, dict[str, tuple[int, ...]]] = {}


def expected_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """state_dict key → shape that network ``name`` expects (built on the meta device, no memory used)."""
    if name not in _SHAPES_CACHE:
        with torch.device("meta"):
            net = get_spec(name).build()
        _SHAPES_CACHE[name] = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    return _SHAPES_CACHE[name]


def _guess_network(sd: Mapping[str, torch.Tensor], exclude: str) -> Optional[str]:
    keys = {k: tuple(v.shape) for k, v in sd.items() if isinstance(v, torch.Tensor)}
    for other in names():
        if other == exclude:
            continue
        spec = get_spec(other)
        try:
            cand = spec.prepare(dict(sd)) if spec.prepare else dict(sd)
            cand_shapes = {k: tuple(v.shape) for k, v in cand.items()}
        except Exception:
            cand_shapes = keys
        if cand_shapes == expected_shapes(other):
            return other
    return None


def _find_checkpoint(spec: ModelSpec, weights_dir, member: Optional[str]) -> tuple[Path, Optional[str]]:
    """The file (and archive member) holding ``spec``'s published weights, from the weights registry."""
    from .. import weights  # noqa: PLC0415  (the registry is read only when a file is looked up)

    if spec.weights_id is None:
        raise CheckpointError(f"network {spec.name!r} has no published checkpoint in the registry; pass checkpoint=")
    entry = weights.registry()[spec.weights_id]
    if not entry.members:
        return Path(weights.find(spec.weights_id, weights_dir)), None
    path = member_path(spec.name, member)
    return Path(weights.find_member(spec.weights_id, path, weights_dir)), path


def member_path(name: str, member: Optional[str] = None) -> str:
    """The path inside its published archive of the checkpoint network ``name`` loads (registry.toml's
    ``[[ID.members]]``, the only place such paths are written).

    Args:
        name: a registered network name.
        member: the member's key where several members fit the network (e.g. ``"vae_b_scratch"``).

    Raises:
        ValueError: no member, or several and ``member`` does not say which.
    """
    from .. import weights  # noqa: PLC0415

    spec = get_spec(name)
    entry = weights.registry().get(spec.weights_id or "")
    fits = [m for m in (entry.members if entry else ()) if name in m.networks and member in (None, m.key)]
    if len(fits) != 1:
        keys = [m.key for m in (entry.members if entry else ()) if name in m.networks]
        raise ValueError(f"network {name!r}: member {member!r} does not name one archive member; known: {keys}")
    return fits[0].path


def members(weights_id: str) -> dict[str, tuple[str, str]]:
    """``key -> (path inside the archive, network name)`` for the members of archive ``weights_id``."""
    from .. import weights  # noqa: PLC0415

    return {m.key: (m.path, m.networks[0]) for m in weights.registry()[weights_id].members if m.key}


def load(
    name: str,
    checkpoint: Union[str, Path, Mapping[str, Any], None] = None,
    device: DeviceLike = "cpu",
    *,
    dtype: torch.dtype = torch.float32,
    weights_dir: Union[str, Path, None] = None,
    member: Optional[str] = None,
) -> nn.Module:
    """Build network ``name`` and load ``checkpoint`` into it, strictly.

    Args:
        name: a registered network name (see :func:`names`).
        checkpoint: a path to the file as its authors published it (bare state_dict, nested under a key
            such as ``model_state``/``state_dict``, ``module.`` prefixes), the published archive holding it or
            the folder that archive was unpacked into, an in-memory state_dict, or ``None``: the weights
            registry's file (found under ``weights_dir``, unpacked from its archive on first use, verified).
        device: where the returned module lives (default CPU).
        dtype: parameter dtype of the returned module.
        weights_dir: the weights folder searched when ``checkpoint`` is None.
        member: for networks loaded from an archive with several fitting members, the member's key
            (registry.toml), e.g. ``"vae_b_scratch"``.

    Returns:
        The network in eval mode, with ``spec`` (its :class:`ModelSpec`) attached as ``net.spec``.

    Raises:
        CheckpointError: unreadable file, or keys/shapes that do not fit; the message names the missing,
            unexpected and misshaped keys and, where it can tell, which network the file belongs to.
        MissingWeightsError: ``checkpoint`` is None and the file is not on disk (the message says how to get it).
    """
    spec = get_spec(name)
    if checkpoint is None:
        checkpoint, _ = _find_checkpoint(spec, weights_dir, member)
    if isinstance(checkpoint, (str, Path)):
        source = str(checkpoint)
        entry_member = None
        if Path(checkpoint).expanduser().is_dir() or _is_archive(checkpoint):
            entry_member = member_path(name, member)
        raw = read_member(checkpoint, entry_member) if entry_member else load_checkpoint_file(checkpoint)
    else:
        source, raw = "the given state_dict", checkpoint
    sd = canonicalize_state_dict(raw, source=source)
    if spec.prepare is not None:
        sd = spec.prepare(sd)
    want = expected_shapes(name)
    got = {k: tuple(v.shape) for k, v in sd.items()}
    if want != got:
        guess = _guess_network(sd, exclude=name)
        raise CheckpointError(describe_mismatch(source, name, want, got, guess))
    net = spec.build()
    net.load_state_dict(sd, strict=True)
    if spec.finalize is not None:
        net = spec.finalize(net)
    net.eval().requires_grad_(False)
    net = net.to(device=pick_device(device), dtype=dtype)
    net.spec = spec  # type: ignore[assignment]
    return net


def _is_archive(path: Union[str, Path]) -> bool:
    p = Path(path).expanduser()
    return p.is_file() and _archive_members(p) is not None


from .descriptor import LoadedModel, open  # noqa: E402  (needs load and get_spec above)
