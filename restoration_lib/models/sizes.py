"""Input size rules of networks, stated once: minimum side, multiple-of, padding and the official rounding.

Every network's :class:`SizeRequirements` lives in its :class:`~restoration_lib.models.ModelSpec`; tasks apply
the rules through :class:`~restoration_lib.models.LoadedModel` (``pad`` / ``crop``) or the functions here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

__all__ = ["SizeRequirements", "pad_to_multiple", "round_to_multiple", "next_multiple"]


def next_multiple(x: int, m: int) -> int:
    """The smallest multiple of ``m`` that is ≥ ``x`` (``m`` ≥ 1)."""
    return ((int(x) - 1) // m + 1) * m if x > 0 else m


def round_to_multiple(x: float, m: int) -> int:
    """``int(round(x / m) * m)`` with Python's round (halves to even): the rounding the official BOPBTL code uses."""
    return int(round(x / m) * m)


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "constant") -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad (N, C, H, W) at the bottom and right up to multiples of ``multiple``.

    Args:
        x: (N, C, H, W) tensor.
        multiple: the size multiple (≥ 1).
        mode: ``"constant"`` (zeros, RIFE's rule) or ``"replicate"``.

    Returns:
        The padded tensor and the original ``(H, W)`` (crop ``[..., :H, :W]`` to undo).
    """
    h, w = x.shape[-2:]
    ph, pw = next_multiple(h, multiple), next_multiple(w, multiple)
    if (ph, pw) != (h, w):
        x = F.pad(x, (0, pw - w, 0, ph - h), mode=mode)
    return x, (h, w)


@dataclass(frozen=True)
class SizeRequirements:
    """What input sizes a network accepts: at least ``minimum`` pixels a side, a multiple of ``multiple_of``.

    Attributes:
        minimum: smallest side in pixels.
        multiple_of: both sides must be multiples of this.
        square: the network needs square inputs.
    """

    minimum: int = 1
    multiple_of: int = 1
    square: bool = False

    def __post_init__(self):
        if self.minimum < 1 or self.multiple_of < 1:
            raise ValueError(f"minimum and multiple_of must be >= 1; got {self.minimum}, {self.multiple_of}")

    def padded_size(self, height: int, width: int, multiple: Optional[int] = None) -> tuple[int, int]:
        """The smallest accepted (H, W) ≥ the given one (``multiple`` overrides ``multiple_of``)."""
        m = multiple or self.multiple_of
        hp = next_multiple(max(height, self.minimum), m)
        wp = next_multiple(max(width, self.minimum), m)
        if self.square:
            hp = wp = max(hp, wp)
        return hp, wp

    def accepts(self, height: int, width: int) -> bool:
        """Whether (H, W) satisfies the rules as it is."""
        return (height, width) == self.padded_size(height, width)

    def check(self, height: int, width: int, what: str = "input") -> None:
        """Raise ``ValueError`` (expected vs actual) unless (H, W) is accepted as it is."""
        if not self.accepts(height, width):
            want = self.padded_size(height, width)
            raise ValueError(
                f"{what}: {height}x{width} does not fit the network (sides >= {self.minimum}, multiples of "
                f"{self.multiple_of}{', square' if self.square else ''}); pad it to {want[0]}x{want[1]}"
            )
