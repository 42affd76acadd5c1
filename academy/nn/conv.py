"""Convolution and max-pooling in numpy: forward/backward pairs, loop and im2col versions.

These are the reference implementations behind ``notebooks/cnn/01``–``02``: the notebooks derive
each function, a learner writes it, the notebook checks the learner's version against these (and
these against ``torch.nn.functional``), and a learner who is stuck falls back to them.

Conventions (as in PyTorch and CS231n): images ``x`` are (N, C, H, W), filters ``w`` are
(F, C, KH, KW), biases ``b`` are (F,). "Convolution" in deep learning is cross-correlation
(no kernel flip). Every ``*_forward`` returns ``(out, cache)``; the matching ``*_backward`` takes
``(dout, cache)`` and returns the gradients of the loss with respect to the forward's inputs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def conv_output_size(n: int, k: int, padding: int = 0, stride: int = 1, dilation: int = 1) -> int:
    """Output length along one axis: ⌊(n + 2p − d(k − 1) − 1) / s⌋ + 1.

    >>> conv_output_size(8, 3, padding=1)          # 'same' 3×3
    8
    >>> conv_output_size(28, 5, stride=2)
    12
    """
    if min(n, k, stride, dilation) < 1 or padding < 0:
        raise ValueError("n, k, stride, dilation must be ≥ 1 and padding ≥ 0")
    span = dilation * (k - 1) + 1                     # the kernel's footprint on the input
    if n + 2 * padding < span:
        raise ValueError(f"kernel footprint {span} is larger than the padded input {n + 2 * padding}")
    return (n + 2 * padding - span) // stride + 1


# ----------------------------------------------------------------------------- single-channel 2-D

def cross_correlate2d(image: np.ndarray, kernel: np.ndarray, padding: int = 0, stride: int = 1,
                      dilation: int = 1) -> np.ndarray:
    """(H, W) image ⋆ (KH, KW) kernel → (OH, OW):  out[i, j] = Σ_{u,v} x[s·i + d·u, s·j + d·v] · k[u, v].

    Zero padding; what ``torch.nn.functional.conv2d`` computes for one channel and one filter.
    """
    x = np.pad(np.asarray(image, dtype=np.float64), padding)
    k = np.asarray(kernel, dtype=np.float64)
    kh, kw = k.shape
    oh = conv_output_size(image.shape[0], kh, padding, stride, dilation)
    ow = conv_output_size(image.shape[1], kw, padding, stride, dilation)
    out = np.zeros((oh, ow))
    for u in range(kh):                  # sum of KH·KW shifted, strided copies of the image
        for v in range(kw):
            rows = slice(dilation * u, dilation * u + stride * (oh - 1) + 1, stride)
            cols = slice(dilation * v, dilation * v + stride * (ow - 1) + 1, stride)
            out += k[u, v] * x[rows, cols]
    return out


def convolve2d(image: np.ndarray, kernel: np.ndarray, padding: int = 0, stride: int = 1,
               dilation: int = 1) -> np.ndarray:
    """True (mathematical) convolution: cross-correlation with the kernel flipped in both axes."""
    return cross_correlate2d(image, np.asarray(kernel)[::-1, ::-1], padding, stride, dilation)


# ----------------------------------------------------------------------------- conv layer, loop version

def conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0
                   ) -> tuple[np.ndarray, tuple]:
    """Conv layer forward, one loop per output position.

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,) → out: (N, F, OH, OW) with
    out[n, f, i, j] = b[f] + Σ_{c,u,v} x_pad[n, c, s·i + u, s·j + v] · w[f, c, u, v].
    """
    n, c, h, wd = x.shape
    f, c2, kh, kw = w.shape
    if c != c2:
        raise ValueError(f"x has {c} channels but w expects {c2}")
    oh, ow = conv_output_size(h, kh, padding, stride), conv_output_size(wd, kw, padding, stride)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = np.empty((n, f, oh, ow), dtype=np.result_type(x, w))
    for i in range(oh):
        for j in range(ow):
            window = xp[:, :, i * stride: i * stride + kh, j * stride: j * stride + kw]   # (N, C, KH, KW)
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b      # (N, F)
    return out, (x, w, b, stride, padding)


def conv2d_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Conv layer backward, loop version. dout: (N, F, OH, OW) → dx (N, C, H, W), dw (F, C, KH, KW), db (F,).

    Each output position's window got ``out += window · w``, so it sends back
    ``dwindow += dout · w`` and ``dw += dout · window``; ``db`` sums dout over N, OH, OW.
    """
    x, w, b, stride, padding = cache
    _, _, kh, kw = w.shape
    _, _, oh, ow = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(oh):
        for j in range(ow):
            rows, cols = slice(i * stride, i * stride + kh), slice(j * stride, j * stride + kw)
            g = dout[:, :, i, j]                                            # (N, F)
            dxp[:, :, rows, cols] += np.tensordot(g, w, axes=([1], [0]))    # (N, C, KH, KW)
            dw += np.tensordot(g, xp[:, :, rows, cols], axes=([0], [0]))    # (F, C, KH, KW)
    db = dout.sum(axis=(0, 2, 3))
    dx = dxp[:, :, padding: padding + x.shape[2], padding: padding + x.shape[3]]
    return dx, dw, db


# ----------------------------------------------------------------------------- conv layer, im2col version

def im2col(x: np.ndarray, kh: int, kw: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """(N, C, H, W) → (N, C·KH·KW, OH·OW): column p holds the window under output position p.

    Same layout as ``torch.nn.functional.unfold``. Built from a strided view (no Python loops).
    """
    n, c, h, w = x.shape
    oh, ow = conv_output_size(h, kh, padding, stride), conv_output_size(w, kw, padding, stride)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    win = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride][:, :, :oh, :ow]
    # win: (N, C, OH, OW, KH, KW) → (N, C, KH, KW, OH, OW)
    return win.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, oh * ow)


def col2im(cols: np.ndarray, x_shape: tuple, kh: int, kw: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """The adjoint of ``im2col``: (N, C·KH·KW, OH·OW) → (N, C, H, W), summing overlapping windows (``F.fold``)."""
    n, c, h, w = x_shape
    oh, ow = conv_output_size(h, kh, padding, stride), conv_output_size(w, kw, padding, stride)
    cols = cols.reshape(n, c, kh, kw, oh, ow)
    xp = np.zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=cols.dtype)
    for u in range(kh):                  # KH·KW strided adds instead of N·C·OH·OW scattered ones
        for v in range(kw):
            xp[:, :, u: u + stride * oh: stride, v: v + stride * ow: stride] += cols[:, :, u, v]
    return xp[:, :, padding: padding + h, padding: padding + w]


def conv2d_forward_im2col(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0
                          ) -> tuple[np.ndarray, tuple]:
    """Same result as ``conv2d_forward`` as one matrix product: (F, C·KH·KW) @ (N, C·KH·KW, OH·OW)."""
    n, _, h, wd = x.shape
    f, _, kh, kw = w.shape
    oh, ow = conv_output_size(h, kh, padding, stride), conv_output_size(wd, kw, padding, stride)
    cols = im2col(x, kh, kw, stride, padding)                      # (N, CKK, P)
    out = np.matmul(w.reshape(f, -1), cols) + b[None, :, None]     # (N, F, P)
    return out.reshape(n, f, oh, ow), (x.shape, cols, w, stride, padding)


def conv2d_backward_im2col(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward of ``conv2d_forward_im2col``: two matrix products and a ``col2im``."""
    x_shape, cols, w, stride, padding = cache
    f, _, kh, kw = w.shape
    g = dout.reshape(dout.shape[0], f, -1)                                     # (N, F, P)
    dw = np.tensordot(g, cols, axes=([0, 2], [0, 2])).reshape(w.shape)         # (F, C, KH, KW)
    dcols = np.matmul(w.reshape(f, -1).T, g)                                  # (N, CKK, P)
    dx = col2im(dcols, x_shape, kh, kw, stride, padding)
    return dx, dw, dout.sum(axis=(0, 2, 3))


# ----------------------------------------------------------------------------- max pooling

def maxpool_forward(x: np.ndarray, size: int = 2, stride: int | None = None) -> tuple[np.ndarray, tuple]:
    """Max pooling. x: (N, C, H, W) → (N, C, OH, OW), OH = ⌊(H − size)/stride⌋ + 1 (stride defaults to size)."""
    stride = stride or size
    n, c, h, w = x.shape
    oh, ow = conv_output_size(h, size, 0, stride), conv_output_size(w, size, 0, stride)
    out = np.empty((n, c, oh, ow), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = x[:, :, i * stride: i * stride + size, j * stride: j * stride + size].max(axis=(2, 3))
    return out, (x, size, stride)


def maxpool_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """The gradient flows only to the (first) maximum of each window. dout: (N, C, OH, OW) → dx: (N, C, H, W)."""
    x, size, stride = cache
    n, c, oh, ow = dout.shape
    dx = np.zeros_like(x)
    for i in range(oh):
        for j in range(ow):
            rows, cols = slice(i * stride, i * stride + size), slice(j * stride, j * stride + size)
            window = x[:, :, rows, cols].reshape(n, c, -1)                   # (N, C, size²)
            onehot = np.zeros_like(window)
            np.put_along_axis(onehot, window.argmax(-1)[..., None], 1.0, axis=-1)
            dx[:, :, rows, cols] += (onehot * dout[:, :, i, j][..., None]).reshape(n, c, size, size)
    return dx


# ----------------------------------------------------------------------------- checking gradients

def numerical_gradient(f: Callable[[], np.ndarray], x: np.ndarray, dout: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central differences of ``sum(f() * dout)`` with respect to ``x`` (changed in place and restored).

    ``f`` takes no arguments and reads ``x``; use float64 for relative errors near 1e-8.
    """
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        idx = it.multi_index
        old = x[idx]
        x[idx] = old + h
        plus = np.sum(f() * dout)
        x[idx] = old - h
        minus = np.sum(f() * dout)
        x[idx] = old
        grad[idx] = (plus - minus) / (2 * h)
        it.iternext()
    return grad


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a − b| / max(|a| + |b|, 1e-8), elementwise, the CS231n yardstick (≈1e-8 is good in float64)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))
