"""Global-restoration networks of "Bringing Old Photos Back to Life" (BOPBTL), in plain PyTorch.

Five architectures, configured as the official inference scripts build them (``Global/detection.py`` and
``Global/test.py`` with the options ``run.py`` passes), with attribute names that reproduce the official
state_dict keys so the published ``global_checkpoints.zip`` members load unchanged:

- :class:`ScratchUNet`: the scratch detector (``detection.py``'s UNet: depth 4, 64 filters, batch norm,
  antialiased downsampling, bilinear-upsampling decoder). ``(N, 1, H, W)`` gray in ``[-1, 1]`` (H, W multiples
  of 16) → ``(N, 1, H, W)`` logits.
- :class:`VAE`: ``GlobalGenerator_DCDCv2`` with ``ngf=64, k_size=4, n_downsampling=3, mc=64, start_r=1,
  spatio_size=64`` (VAE A encodes old photos, VAE B decodes clean latents). ``encode``: ``(N, 3, H, W)`` in
  ``[-1, 1]`` (multiples of 4) → ``(N, 64, H/4, W/4)``; ``decode``: the reverse, output in ``(-1, 1)``.
- :class:`MappingQuality`: ``Mapping_Model`` (64 → 512 channels, 6 residual blocks, instance norm).
- :class:`MappingScratch`: ``Mapping_Model_with_mask`` with the masked non-local block
  (``NonLocalBlock2D_with_mask_Res``, "combine" fusion, L1 renormalisation of the masked attention).
  ``forward(z, mask)`` with the mask (1 = scratch) at image resolution.
- :class:`MappingHR`: ``Mapping_Model_with_mask_2``, three patch-attention stages (patch 8, 4, 2 on the latent)
  for high-resolution scratched photos; ``forward`` is the official ``inference_forward``.

Every ``forward`` here is the straightforward computation, memory included: the non-local block materialises an
``(h·w)²`` attention matrix. :mod:`restoration_lib.repair.lowmem` evaluates the same modules with bounded memory.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..models import ModelSpec, SizeRequirements

__all__ = [
    "ResnetBlock",
    "ScratchUNet",
    "VAE",
    "MappingQuality",
    "MappingScratch",
    "MappingHR",
    "NonLocalMasked",
    "PatchAttention",
    "nonlocal_valid_mask",
    "patch_attention_mask",
    "SPECS",
]


def _instance_norm(channels: int) -> nn.InstanceNorm2d:
    # The official get_norm_layer("instance"): InstanceNorm2d without affine parameters or running stats.
    return nn.InstanceNorm2d(channels, affine=False)


class ResnetBlock(nn.Module):
    """``x + [reflect-pad, 3×3 conv, IN, ReLU, reflect-pad, 3×3 conv, IN](x)`` (official ``ResnetBlock``)."""

    def __init__(self, dim: int, dilation: int = 1):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(dilation),
            nn.Conv2d(dim, dim, 3, dilation=dilation),
            _instance_norm(dim),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3),
            _instance_norm(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


# ---------------------------------------------------------------------------------------------------------------
# Scratch detection UNet
# ---------------------------------------------------------------------------------------------------------------


class BlurDownsample(nn.Module):
    """Antialiased stride-2 downsampling: reflect-pad 1, depthwise 3×3 blur, stride 2.

    The blur kernel ``filt`` is a persistent buffer, so it comes from the checkpoint (the official class builds
    ``[1,2,1]ᵀ[1,2,1]/16`` at construction, but a loaded state_dict overrides it).
    """

    def __init__(self, channels: int):
        super().__init__()
        a = torch.tensor([1.0, 2.0, 1.0])
        k = a[:, None] * a[None, :]
        self.register_buffer("filt", (k / k.sum())[None, None].repeat(channels, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.filt, stride=2, groups=x.shape[1])


class _ConvBlock(nn.Module):
    """Two [reflect-pad 1, 3×3 conv, BN, LeakyReLU(0.2)] layers; official key prefix ``block``."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(2):
            layers += [
                nn.ReflectionPad2d(1),
                nn.Conv2d(cin if i == 0 else cout, cout, 3),
                nn.BatchNorm2d(cout),
                nn.LeakyReLU(0.2, True),
            ]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class _UpBlock(nn.Module):
    """Bilinear ×2, reflect-pad 1, 3×3 conv; concatenated with the centre-cropped skip; then a conv block."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.ReflectionPad2d(1),
            nn.Conv2d(cin, cout, 3),
        )
        self.conv_block = _ConvBlock(cin, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = self.up(x)
        h, w = up.shape[2:]
        dy, dx = (skip.shape[2] - h) // 2, (skip.shape[3] - w) // 2
        return self.conv_block(torch.cat([up, skip[:, :, dy : dy + h, dx : dx + w]], 1))


class ScratchUNet(nn.Module):
    """The scratch detector: ``(N, 1, H, W)`` gray in ``[-1, 1]`` → ``(N, 1, H, W)`` logits.

    H and W must be multiples of 16 (four stride-2 stages). ``sigmoid(logits) >= 0.4`` marks scratches.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, depth: int = 4, wf: int = 6):
        super().__init__()
        self.first = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(in_channels, 2**wf, 7), nn.LeakyReLU(0.2, True))
        self.down_path = nn.ModuleList()
        self.down_sample = nn.ModuleList()
        prev = 2**wf
        for i in range(depth):
            self.down_sample.append(
                nn.Sequential(
                    nn.ReflectionPad2d(1),
                    nn.Conv2d(prev, prev, 3),
                    nn.BatchNorm2d(prev),
                    nn.LeakyReLU(0.2, True),
                    BlurDownsample(prev),
                )
            )
            self.down_path.append(_ConvBlock(prev, 2 ** (wf + i + 1)))
            prev = 2 ** (wf + i + 1)
        self.up_path = nn.ModuleList()
        for i in reversed(range(depth)):
            self.up_path.append(_UpBlock(prev, 2 ** (wf + i)))
            prev = 2 ** (wf + i)
        self.last = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(prev, out_channels, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first(x)
        skips = []
        for down, block in zip(self.down_sample, self.down_path):
            skips.append(x)
            x = block(down(x))
        for up, skip in zip(self.up_path, reversed(skips)):
            x = up(x, skip)
        return self.last(x)


# ---------------------------------------------------------------------------------------------------------------
# VAEs
# ---------------------------------------------------------------------------------------------------------------


class VAE(nn.Module):
    """``GlobalGenerator_DCDCv2`` as configured by ``test.py``: 64 channels everywhere, latent at 1/4 size."""

    def __init__(self, channels: int = 64):
        super().__init__()
        c = channels

        def down() -> list[nn.Module]:
            return [nn.Conv2d(c, c, 4, stride=2, padding=1), _instance_norm(c), nn.ReLU(True)]

        def up() -> list[nn.Module]:
            return [nn.ConvTranspose2d(c, c, 4, stride=2, padding=1), _instance_norm(c), nn.ReLU(True)]

        self.encoder = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(3, c, 7), _instance_norm(c), nn.ReLU(True),
            *down(), *down(), ResnetBlock(c), ResnetBlock(c), ResnetBlock(c), ResnetBlock(c),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            ResnetBlock(c), ResnetBlock(c), ResnetBlock(c), ResnetBlock(c), *up(), *up(),
            nn.ReflectionPad2d(3), nn.Conv2d(c, 3, 7), nn.Tanh(),
        )  # fmt: skip

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


# ---------------------------------------------------------------------------------------------------------------
# Mapping networks
# ---------------------------------------------------------------------------------------------------------------


def _head(mc: int = 512) -> list[nn.Module]:
    """64 → 128 → 256 → 512 → 512 channels: four [3×3 conv (zero pad 1), IN, ReLU] layers."""
    chans = [64, 128, 256, 512, 512]
    chans = [min(c, mc) for c in chans]
    out: list[nn.Module] = []
    for cin, cout in zip(chans[:-1], chans[1:]):
        out += [nn.Conv2d(cin, cout, 3, padding=1), _instance_norm(cout), nn.ReLU(True)]
    return out


def _tail(mc: int = 512) -> list[nn.Module]:
    """512 → 512 → 256 → 128 with [3×3 conv, IN, ReLU], then a plain 3×3 conv to 64 channels."""
    chans = [min(c, mc) for c in (1024, 512, 256, 128)]
    out: list[nn.Module] = []
    for cin, cout in zip(chans[:-1], chans[1:]):
        out += [nn.Conv2d(cin, cout, 3, padding=1), _instance_norm(cout), nn.ReLU(True)]
    return out + [nn.Conv2d(128, 64, 3, padding=1)]


class MappingQuality(nn.Module):
    """``Mapping_Model``: latent ``(N, 64, h, w)`` → latent, for unscratched photos."""

    def __init__(self, mc: int = 512, n_blocks: int = 6):
        super().__init__()
        self.model = nn.Sequential(*_head(mc), *[ResnetBlock(mc) for _ in range(n_blocks)], *_tail(mc))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z)


def nonlocal_valid_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The non-local block's map of usable (non-scratch) latent positions, exactly as the official code makes it.

    Official rule (``NonLocalBlock2D_with_mask_Res.forward``): bilinearly resize the scratch mask to the latent
    size and call every position with a value > 0 a scratch; then multiply the complement with a
    nearest-resized copy of ``1 - mask``. Both resizes sample different pixels, so a scratch pixel seen by
    either one removes the position.

    Args:
        mask: ``(N, 1, H, W)`` scratch mask in [0, 1] (1 = scratch), at image resolution.
        size: latent ``(h, w)``.

    Returns:
        ``(N, 1, h, w)``: 1 where attention may read, 0 on scratches (fractional only for non-binary masks).
    """
    keep = 1 - mask
    m = F.interpolate(mask, size, mode="bilinear", align_corners=False)
    m[m > 0] = 1.0
    m = 1 - m
    return m * F.interpolate(keep, size, mode="nearest")


class NonLocalMasked(nn.Module):
    """``NonLocalBlock2D_with_mask_Res`` in "combine" mode with L1 renormalisation (the only inference setting).

    For each latent position ``i``: ``p_i = normalize_L1(softmax_j(θ_i·φ_j) · valid_j)``, ``y_i = Σ_j p_ij g_j``;
    then ``r = res_block(W y)`` and the output is ``valid·x + (1 - valid)·r`` (scratch positions are replaced).
    The attention matrix is ``(h·w)²``: this forward materialises it (see ``repair.lowmem`` for the chunked one).
    """

    def __init__(self, channels: int = 512):
        super().__init__()
        c = channels
        self.g = nn.Conv2d(c, c, 1)
        self.W = nn.Conv2d(c, c, 1)
        self.theta = nn.Conv2d(c, c, 1)
        self.phi = nn.Conv2d(c, c, 1)
        self.res_block = nn.Sequential(ResnetBlock(c), ResnetBlock(c), ResnetBlock(c))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = self.g(x).flatten(2).transpose(1, 2)  # (n, hw, c)
        theta = self.theta(x).flatten(2).transpose(1, 2)  # (n, hw, c)
        phi = self.phi(x).flatten(2)  # (n, c, hw)
        attn = F.softmax(torch.matmul(theta, phi), dim=2)
        valid = nonlocal_valid_mask(mask, (h, w))
        attn = F.normalize(attn * valid.view(n, 1, h * w), p=1, dim=2)
        y = torch.matmul(attn, g).transpose(1, 2).reshape(n, c, h, w)
        r = self.res_block(self.W(y))
        return valid * x + (1 - valid) * r


class MappingScratch(nn.Module):
    """``Mapping_Model_with_mask``: head, masked non-local block, 6 residual blocks, tail."""

    def __init__(self, mc: int = 512, n_blocks: int = 6):
        super().__init__()
        self.before_NL = nn.Sequential(*_head(mc))
        self.NL = NonLocalMasked(mc)
        self.after_NL = nn.Sequential(*[ResnetBlock(mc) for _ in range(n_blocks)], *_tail(mc))

    def forward(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.after_NL(self.NL(self.before_NL(z), mask))


def patch_attention_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The patch-attention mask: the scratch mask resized bilinearly to the latent, every value > 0 set to 1."""
    m = F.interpolate(mask, size, mode="bilinear", align_corners=False)
    m[m > 0] = 1.0
    return m


def patches(x: torch.Tensor, p: int) -> torch.Tensor:
    """``(C, H, W)`` → ``(L, C·p·p)`` non-overlapping patches in ``F.unfold`` order (row-major grid).

    Rows and columns beyond the last whole patch are left out, as ``unfold`` with stride ``p`` does.
    """
    c, h, w = x.shape
    nh, nw = h // p, w // p
    return x[:, : nh * p, : nw * p].reshape(c, nh, p, nw, p).permute(1, 3, 0, 2, 4).reshape(nh * nw, c * p * p)


def masked_patch_flags(m: torch.Tensor, p: int) -> torch.Tensor:
    """``(h, w)`` binary latent mask → bool per patch: more than 60% of its positions are scratches."""
    return patches(m[None], p).mean(dim=1) > 0.6


class PatchAttention(nn.Module):
    """``Patch_Attention_4.inference_forward``: replace mostly-scratched patches by their best unscratched match.

    ``x = res_block(z)``; patches of ``x`` more than 60% masked become the unmasked patch with the highest cosine
    similarity (argmax of a softmax over the keys); ``F_Combine`` (3×3 conv, zero padding) fuses
    ``[z, composed x, mask]``. Official quirks kept: when at least one patch is replaced, the rows/columns
    beyond the last whole patch are zero in the composed map (unfold/fold with stride = patch drops them);
    when no patch is masked the composed map is ``x`` itself; when every patch is masked the official code
    fails (there is no key), and so does this one, with a clear error.
    """

    def __init__(self, channels: int = 512, patch_size: int = 8):
        super().__init__()
        self.patch_size = patch_size
        self.F_Combine = nn.Conv2d(2 * channels + 1, channels, 3, padding=1)
        self.res_block = nn.Sequential(ResnetBlock(channels))

    def compose(
        self, x: torch.Tensor, m: torch.Tensor, chunk: Optional[int] = None, key_chunk: Optional[int] = None
    ) -> torch.Tensor:
        """Write the matched key patches into ``x`` (``(1, C, h, w)``, modified in place) and return it.

        Args:
            x: features after ``res_block``.
            m: ``(1, 1, h, w)`` binary latent mask from :func:`patch_attention_mask`.
            chunk: query patches per correlation block (None: all at once).
            key_chunk: normalised key patches made at a time (None: all at once, kept for every block).
                Neither changes the result (up to float rounding of the matrix products).
        """
        p = self.patch_size
        _, c, h, w = x.shape
        nh, nw = h // p, w // p
        flags = masked_patch_flags(m[0, 0], p)
        q_idx = torch.nonzero(flags).flatten()
        if q_idx.numel() == 0:
            return x
        k_idx = torch.nonzero(~flags).flatten()
        if k_idx.numel() == 0:
            raise ValueError(
                f"every {p}x{p} latent patch is more than 60% scratched, so HR patch attention has no clean patch "
                "to copy from (the official code fails here too); use a smaller mask or mode='scratch'"
            )
        # (nh, nw, C, p, p) view of the whole patches; a patch flattened is F.unfold's (c, ki, kj) order
        grid = x[0, :, : nh * p, : nw * p].unflatten(1, (nh, p)).unflatten(3, (nw, p)).permute(1, 3, 0, 2, 4)

        def gather(idx: torch.Tensor) -> torch.Tensor:
            return grid[idx // nw, idx % nw].reshape(idx.numel(), -1)

        nq, nk = q_idx.numel(), k_idx.numel()
        step = nq if chunk is None else max(1, chunk)
        kstep = nk if key_chunk is None else max(1, key_chunk)
        keys = F.normalize(gather(k_idx), dim=1) if kstep >= nk else None
        best = torch.empty(nq, dtype=torch.long)
        for s in range(0, nq, step):
            qn = F.normalize(gather(q_idx[s : s + step]), dim=1)
            if keys is not None:
                logits = qn @ keys.t()
            else:
                logits = torch.empty(qn.shape[0], nk, dtype=qn.dtype)
                for k0 in range(0, nk, kstep):
                    logits[:, k0 : k0 + kstep] = qn @ F.normalize(gather(k_idx[k0 : k0 + kstep]), dim=1).t()
            best[s : s + step] = F.softmax(logits, dim=1).max(dim=1).indices
            del logits, qn
        del keys
        for s in range(0, nq, step):  # masked and clean patches are disjoint: copy in place
            dst, src = q_idx[s : s + step], k_idx[best[s : s + step]]
            grid[dst // nw, dst % nw] = grid[src // nw, src % nw]
        # official fold: rows/columns beyond the last whole patch come back as zeros
        x[0, :, nh * p :, :] = 0
        x[0, :, :, nw * p :] = 0
        return x

    def forward(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if z.shape[0] != 1:
            raise ValueError(f"HR patch attention runs one image at a time; got a batch of {z.shape[0]}")
        x = self.res_block(z)
        m = patch_attention_mask(mask, tuple(x.shape[2:]))
        x = self.compose(x, m)
        return self.F_Combine(torch.cat([z, x, m], dim=1))


class MappingHR(nn.Module):
    """``Mapping_Model_with_mask_2`` (multi-scale patch attention), evaluated as the official ``inference_forward``."""

    def __init__(self, mc: int = 512):
        super().__init__()
        self.before_NL = nn.Sequential(*_head(mc), ResnetBlock(mc), ResnetBlock(mc))
        self.NL_scale_1 = PatchAttention(mc, 8)
        self.res_block_1 = nn.Sequential(ResnetBlock(mc), ResnetBlock(mc))
        self.NL_scale_2 = PatchAttention(mc, 4)
        self.res_block_2 = nn.Sequential(ResnetBlock(mc), ResnetBlock(mc))
        self.NL_scale_3 = PatchAttention(mc, 2)
        self.after_NL = nn.Sequential(ResnetBlock(mc), ResnetBlock(mc), *_tail(mc))

    def forward(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.NL_scale_1(self.before_NL(z), mask)
        x = self.NL_scale_2(self.res_block_1(x), mask)
        x = self.NL_scale_3(self.res_block_2(x), mask)
        return self.after_NL(x)


# ---------------------------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------------------------

_LICENCE = "MIT (microsoft/Bringing-Old-Photos-Back-to-Life, code and pretrained models)"

# name, class, what it is, size requirements, tiling (archive members: registry.toml)
_TABLE = [
    ("bopbtl-scratch-detector", ScratchUNet,
     "scratch detection UNet", SizeRequirements(minimum=16, multiple_of=16), "discouraged"),
    ("bopbtl-vae-a", VAE,
     "VAE A, old-photo encoder", SizeRequirements(minimum=16, multiple_of=4), "internal"),
    ("bopbtl-vae-b", VAE,
     "VAE B, clean-photo decoder", SizeRequirements(minimum=16, multiple_of=4), "internal"),
    ("bopbtl-mapping-quality", MappingQuality,
     "latent mapping for unscratched photos", SizeRequirements(minimum=2), "internal"),
    ("bopbtl-mapping-scratch", MappingScratch,
     "latent mapping with the masked non-local block, for scratched photos", SizeRequirements(minimum=2), "internal"),
    ("bopbtl-mapping-hr", MappingHR,
     "multi-scale patch-attention mapping for high-resolution scratched photos", SizeRequirements(minimum=8),
     "internal"),
]  # fmt: skip

SPECS = [
    ModelSpec(name=name, build=cls, description=f"BOPBTL {what}; {_LICENCE}", weights_id="bopbtl-global",
              size=size, tiling=tiling)  # type: ignore[arg-type]
    for name, cls, what, size, tiling in _TABLE
]  # fmt: skip
