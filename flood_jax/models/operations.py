"""The convolution, upsampling and pooling a ResUNet is built with, chosen once per device kind.

`operations(platform, fast)` returns the `conv`, `upsample` and `pool` that `ResUNet` takes.
Both choices compute the same functions with the same parameters under the same names, so a
checkpoint of one loads in the other (tests/test_models.py):

- fast (the default): 1x1 convolutions as einsums and the 3x3 weight gradient as banded matrix
  products on CPUs (`models/conv.py`; on other devices the 3x3 convolutions stay XLA's, whose
  cuDNN gradient is fast), the decoder's 2x2 stride-2 transposed convolution as a matrix product
  and depth-to-space (`Upsample2x`), and 2x2 max pooling as a reshape and a max (`max_pool2x`).
  jax2onnx exports this form (it cannot export `nn.max_pool`);
- library: `nn.Conv`, `nn.ConvTranspose` and `nn.max_pool` as they are.
"""

from __future__ import annotations

import functools

import flax.linen as nn

from flood_jax.models import conv
from flood_jax.models.blocks import Upsample2x, max_pool2x


def library_operations() -> dict:
  return {
    "conv": nn.Conv,
    "upsample": functools.partial(nn.ConvTranspose, kernel_size=(2, 2), strides=(2, 2)),
    "pool": functools.partial(nn.max_pool, window_shape=(2, 2), strides=(2, 2)),
  }


def operations(platform: str, fast: bool = True) -> dict:
  """{"conv", "upsample", "pool"} for a model that runs on `platform` ("cpu", "gpu", "tpu")."""
  if not fast:
    return library_operations()
  convolution = functools.partial(conv.conv_general_dilated, weight_gradient_3x3=platform == "cpu")
  return {
    "conv": functools.partial(nn.Conv, conv_general_dilated=convolution),
    "upsample": Upsample2x,
    "pool": max_pool2x,
  }
