"""From-scratch numpy layers the notebooks derive, used as reference implementations (CS231n-style)."""

from academy.nn.conv import (
    col2im,
    conv2d_backward,
    conv2d_backward_im2col,
    conv2d_forward,
    conv2d_forward_im2col,
    conv_output_size,
    convolve2d,
    cross_correlate2d,
    im2col,
    maxpool_backward,
    maxpool_forward,
    numerical_gradient,
    rel_error,
)

__all__ = ["col2im", "conv2d_backward", "conv2d_backward_im2col", "conv2d_forward", "conv2d_forward_im2col",
           "conv_output_size", "convolve2d", "cross_correlate2d", "im2col", "maxpool_backward", "maxpool_forward",
           "numerical_gradient", "rel_error"]
