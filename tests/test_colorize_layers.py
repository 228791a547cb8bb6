"""The rewritten building blocks against the plain operations they replace (shape sweeps, seeded)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from restoration_lib.accel import deoldify as accel_deoldify
from restoration_lib.archs import deoldify as arch
from restoration_lib.accel.winograd import Im2colConv3x3, WinogradConv3x3, transform_kernel, winograd_conv3x3


@pytest.mark.parametrize("n,c,o,h,w", [(1, 5, 7, 8, 8), (2, 16, 9, 13, 6), (1, 3, 4, 1, 1), (1, 33, 17, 21, 30)])
@pytest.mark.parametrize("relu", [False, True])
def test_winograd_matches_direct_convolution(n, c, o, h, w, relu):
    x = torch.randn(n, c, h, w, dtype=torch.float64)
    conv = torch.nn.Conv2d(c, o, 3, padding=1).double()
    with torch.no_grad():
        want = conv(x)
    if relu:
        want = want.relu()
    with torch.no_grad():  # an inference kernel: no autograd
        got = winograd_conv3x3(x, transform_kernel(conv.weight), conv.bias, relu=relu, chunk_tiles=5)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)  # exact arithmetic up to float64 rounding


def test_winograd_module_in_float32_and_bfloat16():
    conv = torch.nn.Conv2d(64, 48, 3, padding=1)
    x = torch.randn(1, 64, 40, 36).relu().contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        want = conv(x).relu()
    mod = WinogradConv3x3(conv, relu=True)
    with torch.inference_mode():
        got32 = mod(x)
        got16 = mod.to(torch.bfloat16)(x.to(torch.bfloat16)).float()
    rms = want.pow(2).mean().sqrt()
    assert (got32 - want).pow(2).mean().sqrt() / rms < 1e-5
    assert (got16 - want).pow(2).mean().sqrt() / rms < 0.05  # bfloat16 Winograd: a few % (see the module notes)
    with pytest.raises(ValueError, match="3×3 stride-1"):
        WinogradConv3x3(torch.nn.Conv2d(4, 4, 3, stride=2, padding=1))


@pytest.mark.parametrize("n,c,o,h,w", [(1, 6, 5, 4, 4), (2, 9, 11, 7, 3), (1, 3, 4, 1, 1), (1, 8, 6, 30, 25)])
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_im2col_conv_matches_direct_convolution(n, c, o, h, w, relu, bias):
    x = torch.randn(n, c, h, w, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    conv = torch.nn.Conv2d(c, o, 3, padding=1, bias=bias).double()
    with torch.no_grad():
        want = conv(x)
    want = want.relu() if relu else want
    mod = Im2colConv3x3(conv, relu=relu, max_pixels=100)  # the last shape (750 px) takes the direct path
    with torch.inference_mode():
        got = mod(x)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="input channels"):
        mod(x[:, :-1])
    with pytest.raises(ValueError, match="3×3 stride-1"):
        Im2colConv3x3(torch.nn.Conv2d(4, 4, 3, padding=2))


@pytest.mark.parametrize("shape", [(1, 8, 5, 7), (2, 12, 4, 4), (1, 4, 1, 1)])
def test_shuffle_blur_is_pixel_shuffle_pad_pool(shape):
    z = torch.randn(*shape)
    want = F.avg_pool2d(F.pad(F.pixel_shuffle(z, 2), (1, 0, 1, 0), mode="replicate"), 2, stride=1)
    for inp in (z, z.contiguous(memory_format=torch.channels_last)):
        torch.testing.assert_close(arch.shuffle_blur(inp), want, rtol=0, atol=0)


@pytest.mark.parametrize("length,rows", [(37, 1 << 20), (37, 37 * 5)])
def test_attend_is_softmax_attention(length, rows):
    q, k = torch.randn(2, length, 6), torch.randn(2, length, 6)
    v = torch.randn(2, length, 10)
    want = torch.softmax(q @ k.transpose(1, 2), dim=-1) @ v
    torch.testing.assert_close(arch.attend(q, k, v, max_logits=rows), want, rtol=1e-5, atol=1e-5)


def test_self_attention_follows_the_sagan_formula():
    sa = arch.SelfAttention(16).eval().double()
    with torch.no_grad():
        sa.gamma.fill_(0.7)
    x = torch.randn(1, 16, 3, 5, dtype=torch.float64)
    flat = x.flatten(2)
    f = F.conv1d(flat, sa.query.effective_weight())
    g = F.conv1d(flat, sa.key.effective_weight())
    h = F.conv1d(flat, sa.value.effective_weight())
    beta = torch.softmax(f.transpose(1, 2) @ g, dim=1)  # softmax over the first position index
    want = (0.7 * (h @ beta) + flat).view_as(x)
    with torch.no_grad():
        torch.testing.assert_close(sa(x), want, rtol=1e-9, atol=1e-9)


def _artistic_with_plausible_weights():
    """A random artistic generator with converged spectral-norm vectors, non-trivial batch norms and attention."""
    torch.manual_seed(0)
    net = arch.build_artistic().eval()
    for m in net.modules():
        if isinstance(m, arch.SpectralNormConv):
            w = m.weight_orig.detach().reshape(m.weight_orig.shape[0], -1)
            u = m.weight_u
            for _ in range(30):
                v = F.normalize(w.t() @ u, dim=0)
                u = F.normalize(w @ v, dim=0)
            m.weight_u.copy_(u)
            m.weight_v.copy_(v)
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.8, 1.2)
        if isinstance(m, arch.SelfAttention):
            m.gamma.data.fill_(0.3)
    return net


def test_finalize_keeps_the_function_and_winograd_stays_close():
    net = _artistic_with_plausible_weights()
    x = torch.randn(1, 3, 48, 48)
    with torch.inference_mode():
        want = net(x)
        arch.finalize(net)
        folded = net(x)
        assert accel_deoldify.use_winograd(net) == 8
        fast = net.to(torch.bfloat16)(x.to(torch.bfloat16)).float()
    torch.testing.assert_close(folded, want, rtol=1e-4, atol=1e-4)
    assert (fast - want).abs().mean() < 0.05


def test_matmul_low_res_keeps_the_function():
    with torch.no_grad():
        net = arch.finalize(_artistic_with_plausible_weights())
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        want = net(x)
        assert accel_deoldify.use_matmul_low_res(net) == 4  # bridge (2) and the first decoder block (2)
        got = net(x)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
