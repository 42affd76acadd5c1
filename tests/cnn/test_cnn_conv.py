"""academy.nn.conv against torch.nn.functional and numerical gradients (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from academy.nn import conv
from academy.nn.exercise import same, use_or_reference

SETTINGS = [(1, 0), (1, 1), (2, 1), (2, 0), (3, 2)]   # (stride, padding)


def t(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


@pytest.mark.parametrize("n,k,p,s,d", [(8, 3, 1, 1, 1), (8, 3, 0, 1, 1), (8, 3, 1, 2, 1), (9, 3, 0, 1, 2),
                                       (28, 5, 2, 3, 1), (8, 2, 0, 2, 1), (1, 1, 0, 1, 1)])
def test_output_size_matches_torch(n, k, p, s, d):
    y = F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), padding=p, stride=s, dilation=d)
    assert conv.conv_output_size(n, k, p, s, d) == y.shape[-1]


def test_output_size_rejects_impossible():
    with pytest.raises(ValueError):
        conv.conv_output_size(4, 3, dilation=3)
    with pytest.raises(ValueError):
        conv.conv_output_size(8, 0)


@pytest.mark.parametrize("p,s,d", [(0, 1, 1), (1, 2, 1), (2, 1, 2), (1, 3, 3)])
def test_cross_correlate_and_convolve(p, s, d):
    rng = np.random.default_rng(0)
    x, k = rng.standard_normal((11, 9)), rng.standard_normal((3, 2))
    want = F.conv2d(t(x)[None, None], t(k)[None, None], padding=p, stride=s, dilation=d)[0, 0].numpy()
    assert np.allclose(conv.cross_correlate2d(x, k, p, s, d), want, atol=1e-12)
    flipped = F.conv2d(t(x)[None, None], t(k[::-1, ::-1].copy())[None, None], padding=p, stride=s, dilation=d)
    assert np.allclose(conv.convolve2d(x, k, p, s, d), flipped[0, 0].numpy(), atol=1e-12)


@pytest.mark.parametrize("stride,padding", SETTINGS)
@pytest.mark.parametrize("version", ["loop", "im2col"])
def test_conv_forward_backward_match_torch(stride, padding, version):
    rng = np.random.default_rng(stride * 10 + padding)
    x, w, b = rng.standard_normal((3, 2, 9, 8)), rng.standard_normal((4, 2, 3, 3)), rng.standard_normal(4)
    fwd, bwd = ((conv.conv2d_forward, conv.conv2d_backward) if version == "loop"
                else (conv.conv2d_forward_im2col, conv.conv2d_backward_im2col))
    out, cache = fwd(x, w, b, stride, padding)
    xt, wt, bt = t(x, True), t(w, True), t(b, True)
    y = F.conv2d(xt, wt, bt, stride=stride, padding=padding)
    assert out.shape == tuple(y.shape)
    assert conv.rel_error(out, y.detach().numpy()) < 1e-10
    g = rng.standard_normal(out.shape)
    y.backward(t(g))
    for mine, theirs in zip(bwd(g, cache), (xt.grad, wt.grad, bt.grad), strict=True):
        assert conv.rel_error(mine, theirs.numpy()) < 1e-10


def test_conv_backward_numerical_gradient():
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    out, cache = conv.conv2d_forward(x, w, b, 2, 1)
    g = rng.standard_normal(out.shape)
    dx, dw, db = conv.conv2d_backward(g, cache)
    f = lambda: conv.conv2d_forward(x, w, b, 2, 1)[0]
    assert conv.rel_error(dx, conv.numerical_gradient(f, x, g)) < 1e-6
    assert conv.rel_error(dw, conv.numerical_gradient(f, w, g)) < 1e-6
    assert conv.rel_error(db, conv.numerical_gradient(f, b, g)) < 1e-6


def test_im2col_is_unfold_and_col2im_is_fold():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 7, 6))
    for s, p in SETTINGS:
        cols = conv.im2col(x, 3, 2, s, p)
        assert np.array_equal(cols, F.unfold(t(x), (3, 2), stride=s, padding=p).numpy())
        back = F.fold(t(cols), (7, 6), (3, 2), stride=s, padding=p).numpy()
        assert np.allclose(conv.col2im(cols, x.shape, 3, 2, s, p), back)


@pytest.mark.parametrize("size,stride", [(2, 2), (3, 3), (3, 2)])
def test_maxpool_matches_torch(size, stride):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 9, 8))
    out, cache = conv.maxpool_forward(x, size, stride)
    xt = t(x, True)
    y = F.max_pool2d(xt, size, stride)
    assert np.array_equal(out, y.detach().numpy())
    g = rng.standard_normal(out.shape)
    y.backward(t(g))
    assert np.allclose(conv.maxpool_backward(g, cache), xt.grad.numpy())
    if stride == size:     # non-overlapping windows: central differences are exact away from ties
        num = conv.numerical_gradient(lambda: conv.maxpool_forward(x, size, stride)[0], x, g)
        assert conv.rel_error(conv.maxpool_backward(g, cache), num) < 1e-6


def test_use_or_reference_falls_back_with_a_note(capsys):
    def unsolved(n):
        raise NotImplementedError()

    def wrong(n):
        return n + 1

    def right(n):
        return n * 2

    reference = lambda n: n * 2
    probe = lambda f: [f(1), f(5)]
    assert use_or_reference(unsolved, reference, probe) is reference
    assert "using the reference implementation" in capsys.readouterr().out
    assert use_or_reference(wrong, reference, probe) is reference
    assert use_or_reference(right, reference, probe) is right
    assert same((np.ones(2), 1.0), (torch.ones(2), 1.0)) and not same([1, 2], [1, 3])
