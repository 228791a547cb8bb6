"""Device/precision policy, the model registry's loading and error messages, the CLI frame."""
from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from restoration_lib import CheckpointError, PrecisionError, models
from restoration_lib import device as device_mod
from restoration_lib.device import pick_device, resolve_dtype
from restoration_lib.models import ModelSpec, loading

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("native", [True, False])
def test_fast_on_cpu_is_bfloat16_only_where_the_cpu_has_it(monkeypatch, native):
    monkeypatch.setattr(device_mod, "cpu_has_native_bf16", lambda: native)
    device_mod._warn_fast_is_fp32.cache_clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = resolve_dtype("fast", torch.device("cpu"))
    assert got == (torch.bfloat16 if native else torch.float32)
    said = [str(w.message) for w in caught if "no native bfloat16" in str(w.message)]
    assert len(said) == (0 if native else 1), said
    assert resolve_dtype("bf16", torch.device("cpu")) == torch.bfloat16


def test_device_and_precision():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device(None).type in ("cpu", "cuda", "mps")
    cpu = torch.device("cpu")
    assert resolve_dtype("exact", cpu) == torch.float32
    assert resolve_dtype("bf16", cpu) == torch.bfloat16
    native = device_mod.cpu_has_native_bf16()
    assert resolve_dtype("fast", cpu) == (torch.bfloat16 if native else torch.float32)
    with pytest.raises(PrecisionError, match="fp16.*not supported on CPU"):
        resolve_dtype("fp16", cpu)
    with pytest.raises(PrecisionError, match="one of"):
        resolve_dtype("double", cpu)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            pick_device("cuda")


class _Tiny(nn.Module):
    def __init__(self, ch=4):
        super().__init__()
        self.conv = nn.Conv2d(3, ch, 3, padding=1)
        self.bn = nn.BatchNorm2d(ch)


@pytest.fixture
def tiny_specs(monkeypatch):
    specs = {"tiny-a": ModelSpec("tiny-a", lambda: _Tiny(4)), "tiny-b": ModelSpec("tiny-b", lambda: _Tiny(8))}
    monkeypatch.setattr(models, "_collect", lambda: specs)
    models._SHAPES_CACHE.clear()
    yield specs
    models._SHAPES_CACHE.clear()


@pytest.mark.parametrize("wrap", ["bare", "model_state", "state_dict", "module"])
def test_load_accepts_published_containers(tmp_path, tiny_specs, wrap):
    ref = _Tiny(4)
    sd = ref.state_dict()
    obj = {"bare": sd, "model_state": {"model_state": sd, "epoch": 3}, "state_dict": {"state_dict": sd},
           "module": {f"module.{k}": v for k, v in sd.items()}}[wrap]
    path = tmp_path / "ck.pth"
    torch.save(obj, path)
    net = models.load("tiny-a", path)
    assert not net.training and net.spec.name == "tiny-a"
    torch.testing.assert_close(net.conv.weight, ref.conv.weight)
    net2 = models.load("tiny-a", sd)  # in-memory state_dict
    torch.testing.assert_close(net2.bn.running_var, ref.bn.running_var)


def test_mismatch_names_keys_and_guesses_the_network(tmp_path, tiny_specs):
    path = tmp_path / "b.pth"
    torch.save(_Tiny(8).state_dict(), path)
    with pytest.raises(CheckpointError) as e:
        models.load("tiny-a", path)
    msg = str(e.value)
    assert str(path) in msg and "misshaped" in msg and "conv.weight (expected [4, 3, 3, 3], got [8, 3, 3, 3])" in msg
    assert "'tiny-b'" in msg
    sd = _Tiny(4).state_dict()
    sd.pop("conv.bias")
    sd["extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=r"(?s)1 missing keys: conv.bias.*1 unexpected keys: extra.weight"):
        models.load("tiny-a", sd)


def test_bad_files_are_clear_errors(tmp_path):
    html = tmp_path / "page.pth"
    html.write_text("<!DOCTYPE html><html><body>Quota exceeded</body></html>")
    with pytest.raises(CheckpointError, match="HTML page"):
        loading.load_checkpoint_file(html)
    good = tmp_path / "good.pth"
    torch.save(_Tiny(4).state_dict(), good)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pth.*(truncated|corrupt)"):
        loading.load_checkpoint_file(cut)
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        loading.load_checkpoint_file(empty)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        loading.load_checkpoint_file(tmp_path / "nope.pth")


def test_weights_only_refuses_arbitrary_objects(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    p = tmp_path / "evil.pth"
    torch.save({"x": Evil()}, p)
    with pytest.raises(CheckpointError, match="not a loadable checkpoint|corrupt"):
        loading.load_checkpoint_file(p)


def test_unknown_network_lists_known_ones():
    with pytest.raises(ValueError, match="unknown network 'nope'"):
        models.get_spec("nope")


def test_cli_help_lists_tasks():
    out = subprocess.run([sys.executable, "-m", "restoration_lib", "--help"], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    for task in ("demo", "weights"):
        assert task in out.stdout
