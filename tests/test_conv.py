"""The fast convolution paths against lax.conv_general_dilated: outputs and both gradients."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from flood_jax.models import conv

NHWC = ("NHWC", "HWIO", "NHWC")


def _library(x, kernel, padding="SAME"):
  return lax.conv_general_dilated(x, kernel, (1, 1), padding, dimension_numbers=NHWC)


def _fast(x, kernel, padding="SAME"):
  numbers = lax.conv_dimension_numbers(x.shape, kernel.shape, NHWC)
  return conv.conv_general_dilated(x, kernel, (1, 1), padding, dimension_numbers=numbers)


def _check_same(x, kernel, tolerance, padding="SAME"):
  cotangent = jnp.asarray(
    np.random.default_rng(1).normal(size=_library(x, kernel, padding).shape), x.dtype
  )

  def value_and_grads(function):
    out, vjp = jax.vjp(lambda x, k: function(x, k, padding), x, kernel)
    return (out, *vjp(cotangent))

  for ours, theirs in zip(value_and_grads(_fast), value_and_grads(_library), strict=True):
    ours, theirs = np.asarray(ours, np.float32), np.asarray(theirs, np.float32)
    scale = np.abs(theirs).max()
    np.testing.assert_allclose(ours, theirs, atol=tolerance * scale, rtol=0)


@pytest.mark.parametrize(
  "shape",
  [
    (2, 64, 64, 5, 7),  # banded weight gradient (64 * 64 pixels), input unfolded
    (1, 72, 96, 3, 4),  # banded, non-square, input unfolded
    (2, 64, 64, 7, 5),  # banded, cotangent unfolded (fewer output channels)
    (1, 64, 80, 4, 4),  # banded, cotangent unfolded (a tie)
    (2, 16, 24, 6, 3),  # small map unfolded whole, cotangent unfolded
    (2, 32, 32, 3, 6),  # small map unfolded whole, input unfolded
    (1, 66, 64, 2, 2),  # large map, rows not a multiple of the band height: XLA's gradient
  ],
)
def test_conv3x3_matches_library(shape):
  batch, height, width, channels, features = shape
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(batch, height, width, channels)), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(3, 3, channels, features)), jnp.float32)
  _check_same(x, kernel, 1e-5)


@pytest.mark.parametrize("padding", ["SAME", "VALID", ((0, 0), (0, 0))])
def test_pointwise_matches_library(padding):
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(2, 9, 11, 6)), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(1, 1, 6, 4)), jnp.float32)
  _check_same(x, kernel, 1e-5, padding)


def test_bfloat16_matches_library_within_bfloat16_precision():
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(1, 64, 64, 4)), jnp.bfloat16)
  kernel = jnp.asarray(rng.normal(size=(3, 3, 4, 4)), jnp.bfloat16)
  _check_same(x, kernel, 2e-2)


def test_other_convolutions_are_left_to_the_library():
  """Strided, dilated, 7x7 or VALID-padded 3x3 convolutions take lax's path, bit for bit."""
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(1, 16, 16, 3)), jnp.float32)
  numbers = lax.conv_dimension_numbers(x.shape, (3, 3, 3, 2), NHWC)
  for kernel_size, strides, padding, dilation in [
    (3, (2, 2), "SAME", None),
    (3, (1, 1), "VALID", None),
    (3, (1, 1), "SAME", (2, 2)),
    (7, (1, 1), "SAME", None),
  ]:
    kernel = jnp.asarray(rng.normal(size=(kernel_size, kernel_size, 3, 2)), jnp.float32)
    arguments = (x, kernel, strides, padding)
    keywords = {"rhs_dilation": dilation, "dimension_numbers": numbers}
    np.testing.assert_array_equal(
      conv.conv_general_dilated(*arguments, **keywords),
      lax.conv_general_dilated(*arguments, **keywords),
    )


def test_flax_conv_with_fast_path_has_the_same_parameters_and_outputs():
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 64, 64, 3)), jnp.float32)
  for size in (1, 3):
    library = nn.Conv(8, (size, size), padding="SAME")
    fast = nn.Conv(8, (size, size), padding="SAME", conv_general_dilated=conv.conv_general_dilated)
    variables = library.init(jax.random.key(0), x)
    assert jax.tree.map(jnp.shape, fast.init(jax.random.key(0), x)) == jax.tree.map(
      jnp.shape, variables
    )
    np.testing.assert_allclose(fast.apply(variables, x), library.apply(variables, x), atol=1e-5)


def test_banded_weight_gradient_is_chosen_for_cpus_only(monkeypatch):
  """operations("cpu") gives nn.Conv the banded 3x3 weight gradient; other devices keep XLA's
  3x3 convolutions, and every platform gets the einsum 1x1 convolutions."""
  from flood_jax.models import operations

  x = jnp.ones((1, 64, 64, 2), jnp.float32)
  calls = []
  monkeypatch.setattr(conv, "conv3x3", lambda *args: calls.append(args) or _library(*args[:2]))
  for platform, banded in (("cpu", True), ("gpu", False), ("tpu", False)):
    calls.clear()
    module = operations(platform)["conv"](2, (3, 3), padding="SAME")
    variables = module.init(jax.random.key(0), x)
    np.testing.assert_allclose(
      module.apply(variables, x), nn.Conv(2, (3, 3), padding="SAME").apply(variables, x), atol=1e-5
    )
    assert bool(calls) == banded, platform
