"""Convolutions computed the way XLA's CPU backend runs fast; same results as the library's.

`conv_general_dilated` is a drop-in for `lax.conv_general_dilated` that `nn.Conv` takes as its
`conv_general_dilated` argument, so parameters, their names and their shapes do not change.
Measured on a 2-core AVX-512 CPU (benchmarks/convolutions.py), XLA runs

- a 1x1 convolution at 30-300 GFLOP/s, and its weight gradient at 12-85, where the same
  arithmetic written as a matrix product runs 1.7-4x faster: 1x1 kernels become `einsum`;
- the weight gradient of a 3x3 convolution at 50-65 GFLOP/s on 128-256 px feature maps (it is
  lowered to a convolution with a 256x256 window and a 3x3 output), against about 400 for the
  forward convolution. `conv3x3` keeps XLA's forward pass and input gradient and computes the
  weight gradient as a sum of matrix products over bands of `WEIGHT_GRADIENT_ROWS` image rows,
  the operand with fewer channels unfolded to [pixels, 9 * channels] (im2col) while the band is
  small enough to stay in cache: 2.6-4.5x faster at 128-256 px and 1.2-1.5x at 64 px, over
  several runs. Maps under 64x64 are unfolded whole for one matrix product: 2.7-3x faster than
  XLA at 32 px on a 2-core Xeon with 256-512 channels, where bands were 2x.

The banded weight gradient is a CPU remedy (a loop of small matmuls would waste a GPU, where
cuDNN's weight gradient is fast): `models.operations` gives `nn.Conv` this function with
`weight_gradient_3x3=True` on CPUs only, so elsewhere 3x3 convolutions stay XLA's. Anything else
(strides, dilation, groups, other layouts or kernel sizes) goes to `lax.conv_general_dilated`
unchanged. tests/test_conv.py checks outputs and gradients against it.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

WEIGHT_GRADIENT_ROWS = 4
# From this many pixels per feature map on, the weight gradient is unfolded in bands of rows;
# below it, the whole map at once (faster there, and small enough).
MIN_BANDED_PIXELS = 64 * 64

_NHWC = ("NHWC", "HWIO", "NHWC")


def _is_nhwc(dimension_numbers, lhs, rhs) -> bool:
  if dimension_numbers is None:
    return False
  expected = lax.conv_dimension_numbers(lhs.shape, rhs.shape, _NHWC)
  return lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers) == expected


def _same_padding(padding, kernel_size: int) -> bool:
  if isinstance(padding, str):
    return padding.upper() == "SAME" or (padding.upper() == "VALID" and kernel_size == 1)
  half = (kernel_size - 1) // 2
  return all(tuple(pair) == (half, kernel_size - 1 - half) for pair in padding)


def conv_general_dilated(
  lhs,
  rhs,
  window_strides,
  padding,
  lhs_dilation=None,
  rhs_dilation=None,
  dimension_numbers=None,
  feature_group_count=1,
  batch_group_count=1,
  precision=None,
  preferred_element_type=None,
  *,
  weight_gradient_3x3: bool = True,
):
  """`lax.conv_general_dilated`, with the cases named in the module docstring done faster.

  `weight_gradient_3x3=False` keeps XLA's 3x3 convolutions (and their gradients) as they are.
  """
  library = functools.partial(
    lax.conv_general_dilated,
    lhs,
    rhs,
    window_strides,
    padding,
    lhs_dilation=lhs_dilation,
    rhs_dilation=rhs_dilation,
    dimension_numbers=dimension_numbers,
    feature_group_count=feature_group_count,
    batch_group_count=batch_group_count,
    precision=precision,
    preferred_element_type=preferred_element_type,
  )
  plain = (
    lhs.ndim == 4
    and _is_nhwc(dimension_numbers, lhs, rhs)
    and all(s == 1 for s in window_strides)
    and all(d == 1 for d in (lhs_dilation or (1, 1)))
    and all(d == 1 for d in (rhs_dilation or (1, 1)))
    and feature_group_count == 1
    and batch_group_count == 1
    and preferred_element_type is None
    and rhs.shape[0] == rhs.shape[1]
    and _same_padding(padding, rhs.shape[0])
  )
  if not plain:
    return library()
  if rhs.shape[:2] == (1, 1):
    return pointwise(lhs, rhs, precision)
  if rhs.shape[:2] == (3, 3) and weight_gradient_3x3:
    return conv3x3(lhs, rhs, precision)
  return library()


def pointwise(x: jnp.ndarray, kernel: jnp.ndarray, precision=None) -> jnp.ndarray:
  """1x1 convolution: [B, H, W, C] x [1, 1, C, D] -> [B, H, W, D] as one matrix product."""
  return jnp.einsum("bhwc,cd->bhwd", x, kernel[0, 0], precision=precision)


def _library_conv3x3(x, kernel, precision):
  return lax.conv_general_dilated(
    x, kernel, (1, 1), "SAME", dimension_numbers=_NHWC, precision=precision
  )


def weight_gradient3x3(x: jnp.ndarray, cotangent: jnp.ndarray, precision=None) -> jnp.ndarray:
  """d(sum(conv3x3(x, w) * cotangent)) / dw, [3, 3, C, D], as matrix products of unfolded maps.

  x: [B, H, W, C]; cotangent: [B, H, W, D]. dw[i, j] = sum over pixels q of
  x[q] (outer) g[q - (i - 1, j - 1)], which can be computed by unfolding either operand into its
  9 shifted copies: the one with fewer channels is unfolded (the cotangent on a tie, which
  measured faster), since building the unfolded copy is what costs. Maps of at least
  `MIN_BANDED_PIXELS` are unfolded a band of `WEIGHT_GRADIENT_ROWS` rows at a time, so that the
  copy stays in cache; smaller maps are unfolded whole and need one matrix product. Large maps
  whose height is not a multiple of the band height get XLA's own gradient.
  """
  batch, height, width, channels = x.shape
  features = cotangent.shape[-1]
  rows = WEIGHT_GRADIENT_ROWS
  banded = height * width >= MIN_BANDED_PIXELS
  if banded and height % rows:
    kernel = jnp.zeros((3, 3, channels, features), x.dtype)
    _, vjp = jax.vjp(lambda k: _library_conv3x3(x, k, precision), kernel)
    return vjp(cotangent)[0]
  unfold_cotangent = features <= channels
  # The unfolded operand is padded by one pixel; tap (i, j) of pixel q reads it at
  # q + (i, j) for x, and at q + (2 - i, 2 - j) for the cotangent.
  pad = ((0, 0), (1, 1), (1, 1), (0, 0))
  unfolded, plain = (
    (jnp.pad(cotangent, pad), x) if unfold_cotangent else (jnp.pad(x, pad), cotangent)
  )
  offsets = [(2 - i, 2 - j) if unfold_cotangent else (i, j) for i in range(3) for j in range(3)]

  def product(wide, narrow, subscripts):
    band_rows = narrow.shape[1]
    columns = jnp.concatenate(
      [wide[:, i : i + band_rows, j : j + width] for i, j in offsets], axis=-1
    )
    return jnp.einsum(
      subscripts, narrow, columns, precision=precision, preferred_element_type=jnp.float32
    )

  if banded:

    def band(total, index):
      wide = lax.dynamic_slice_in_dim(unfolded, index * rows, rows + 2, axis=1)
      narrow = lax.dynamic_slice_in_dim(plain, index * rows, rows, axis=1)
      return total + product(wide, narrow, "bhwc,bhwk->bck"), None

    # One partial sum per image, added up after the loop: with the batch sharded over devices,
    # a sum over it inside the loop would put an all-reduce in every iteration, and XLA's CPU
    # collectives in a loop deadlocked (tests/test_parallel.py).
    total = jnp.zeros((batch, plain.shape[-1], 9 * unfolded.shape[-1]), jnp.float32)
    total, _ = lax.scan(band, total, jnp.arange(height // rows))
    total = total.sum(0)
  else:
    total = product(unfolded, plain, "bhwc,bhwk->ck")
  if unfold_cotangent:  # total[c, (tap, d)]
    total = total.reshape(channels, 3, 3, features).transpose(1, 2, 0, 3)
  else:  # total[d, (tap, c)]
    total = total.reshape(features, 3, 3, channels).transpose(1, 2, 3, 0)
  return total.astype(x.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv3x3(x: jnp.ndarray, kernel: jnp.ndarray, precision=None) -> jnp.ndarray:
  """3x3 'SAME' convolution, stride 1: [B, H, W, C] x [3, 3, C, D] -> [B, H, W, D]."""
  return _library_conv3x3(x, kernel, precision)


def _conv3x3_forward(x, kernel, precision):
  return _library_conv3x3(x, kernel, precision), (x, kernel)


def _conv3x3_backward(precision, residuals, cotangent):
  x, kernel = residuals
  _, input_vjp = jax.vjp(lambda x: _library_conv3x3(x, kernel, precision), x)
  return input_vjp(cotangent)[0], weight_gradient3x3(x, cotangent, precision)


conv3x3.defvjp(_conv3x3_forward, _conv3x3_backward)
