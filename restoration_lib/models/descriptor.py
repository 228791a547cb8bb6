"""A loaded network with the rules it needs: the one object tasks get from :func:`open`.

Shaped like spandrel's model descriptor: it states the input size rules, the padding, the dtypes the network
supports and a tiling hint, and applies them (:meth:`LoadedModel.pad`), so that tasks do not re-write them.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import torch
from torch import nn

from ..device import DeviceLike, pick_device
from ..errors import PrecisionError
from .sizes import SizeRequirements, pad_to_multiple

__all__ = ["LoadedModel", "open"]


@dataclass
class LoadedModel:
    """A network ready to run on ``device`` in ``dtype``, with its spec.

    Attributes:
        net: the module (eval mode, no gradients), rewritten for its device and dtype by
            :func:`restoration_lib.accel.prepare`.
        spec: its :class:`~restoration_lib.models.ModelSpec` (None for a module the registry does not know).
        device: where it runs.
        dtype: its compute dtype (float32 = exact).
    """

    net: nn.Module
    spec: Optional[Any]
    device: torch.device
    dtype: torch.dtype

    @property
    def name(self) -> str:
        """The registry name, or the module's class name."""
        return self.spec.name if self.spec is not None else type(self.net).__name__

    @property
    def size(self) -> SizeRequirements:
        """Input size rules (minimum side, multiple-of, square)."""
        return self.spec.size if self.spec is not None else SizeRequirements()

    @property
    def tiling(self) -> str:
        """``"supported"``, ``"discouraged"`` or ``"internal"`` (the network needs the whole image)."""
        return self.spec.tiling if self.spec is not None else "discouraged"

    @property
    def channels_last(self) -> bool:
        """Whether inputs should be laid out channels-last (as the prepared network's activations are)."""
        from ..accel import channels_last  # noqa: PLC0415

        return channels_last(self.net, self.device, self.dtype)

    def pad(self, x: torch.Tensor, multiple: Optional[int] = None, mode: str = "constant") -> tuple[torch.Tensor, tuple[int, int]]:
        """Pad (N, C, H, W) at the bottom/right to the network's multiple (or ``multiple``).

        Returns:
            The padded tensor and the original ``(H, W)``; crop with ``y[..., :H, :W]``.
        """
        return pad_to_multiple(x, multiple or self.size.multiple_of, mode=mode)

    def __call__(self, *args, **kwargs):
        """The network's own forward, unchanged."""
        return self.net(*args, **kwargs)


def open(
    model: Union[str, nn.Module],
    checkpoint: Union[str, Path, Mapping[str, Any], None] = None,
    *,
    device: DeviceLike = None,
    dtype: torch.dtype = torch.float32,
    weights_dir: Union[str, Path, None] = None,
    member: Optional[str] = None,
    copy_module: bool = False,
) -> LoadedModel:
    """Find, verify, load and prepare a network: the one way tasks get a model.

    Args:
        model: a registered network name (see :func:`restoration_lib.models.names`) or a module built by
            :mod:`restoration_lib.archs` / loaded by :func:`restoration_lib.models.load` (used as it is).
        checkpoint: as for :func:`restoration_lib.models.load`; ``None`` uses the weights registry.
        device: where to run (``None``: CUDA, then MPS, then CPU).
        dtype: the compute dtype, resolved once by the task (``device.resolve_dtype``).
        weights_dir: the weights folder searched when ``checkpoint`` is None.
        member: the archive member's key where several fit the network (e.g. ``"vae_b_scratch"``).
        copy_module: for a given module, prepare a copy (the caller's module is left as it is).

    Raises:
        MissingWeightsError: the file is not on disk (the message names it, where it looked, how to get it).
        CheckpointError: the file does not hold this network (the message names the first mismatched keys).
        PrecisionError: a dtype the network does not support.
    """
    from .. import accel  # noqa: PLC0415
    from . import get_spec, load  # noqa: PLC0415

    dev = pick_device(device)
    if isinstance(model, nn.Module):
        net = copy.deepcopy(model) if copy_module else model
        spec = getattr(model, "spec", None)
    elif isinstance(model, str):
        spec = get_spec(model)
        net = load(model, checkpoint, "cpu", weights_dir=weights_dir, member=member)
    else:
        raise TypeError(f"model must be a network name or an nn.Module; got {type(model).__name__}")
    if spec is not None and dtype not in spec.dtypes:
        supported = ", ".join(str(d).replace("torch.", "") for d in spec.dtypes)
        raise PrecisionError(f"{spec.name} does not support {str(dtype).replace('torch.', '')} (supported: {supported})")
    net = accel.prepare(net, dev, dtype)
    if spec is not None and getattr(net, "spec", None) is None:
        net.spec = spec  # type: ignore[assignment]
    return LoadedModel(net=net, spec=spec, device=dev, dtype=dtype)

