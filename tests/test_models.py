import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from clu import parameter_overview

from flood_jax.models import MODEL_VARIANTS, ResUNet, model_from_config, operations
from flood_jax.models.blocks import Upsample2x, max_pool2x


@pytest.mark.parametrize("variant", sorted(MODEL_VARIANTS))
def test_every_variant_runs_forward_and_backward(variant):
  model = ResUNet(filters=(8, 16, 32), dropout=0.1, **MODEL_VARIANTS[variant])
  image = jax.random.normal(jax.random.key(0), (2, 64, 64, 3))
  variables = model.init(jax.random.key(1), image)

  def loss(params):
    logits, _ = model.apply(
      {"params": params, "batch_stats": variables["batch_stats"]}, image, train=True,
      rngs={"dropout": jax.random.key(2)}, mutable=["batch_stats"],
    )  # fmt: skip
    return jnp.mean(logits**2), logits

  (value, logits), grads = jax.value_and_grad(loss, has_aux=True)(variables["params"])
  assert logits.shape == (2, 64, 64, 1) and logits.dtype == jnp.float32
  assert np.isfinite(value)
  norms = [float(jnp.abs(g).sum()) for g in jax.tree.leaves(grads)]
  assert all(np.isfinite(norms)) and sum(norms) > 0


def test_switches_change_the_architecture():
  def count(**switches):
    model = ResUNet(filters=(8, 16), **switches)
    variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3))))
    return sum(leaf.size for leaf in jax.tree.leaves(variables["params"]))

  counts = {name: count(**switches) for name, switches in MODEL_VARIANTS.items()}
  assert len(set(counts.values())) == len(counts)
  assert counts["unet"] < counts["resunet"] < counts["resunet_ag_se"]


def test_size_not_divisible_is_refused():
  with pytest.raises(ValueError, match="not divisible"):
    ResUNet(filters=(8, 16, 32)).init(jax.random.key(0), jnp.zeros((1, 30, 32, 3)))


def test_bfloat16_compute_keeps_float32_params_and_logits():
  model = ResUNet(filters=(8, 16), dtype="bfloat16")
  variables = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
  assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(variables["params"]))
  assert model.apply(variables, jnp.ones((1, 32, 32, 3))).dtype == jnp.float32


def test_best_variant_parameter_count_at_256():
  """The count recorded in docs/design.md: ResUNet + attention gates + SE, default filters."""
  model = ResUNet(**MODEL_VARIANTS["resunet_ag_se"])
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 256, 256, 3))))
  count = sum(leaf.size for leaf in jax.tree.leaves(variables["params"]))
  print(parameter_overview.get_parameter_overview(variables["params"], include_stats=False)[-200:])
  assert count == 8_189_474


@pytest.mark.parametrize("dtype,tolerance", [(jnp.float32, 1e-5), (jnp.bfloat16, 2e-2)])
def test_upsample_equals_transposed_convolution(dtype, tolerance):
  """The matmul + depth-to-space upsampling is nn.ConvTranspose(k=2, s=2): same parameters,
  same initial values, same outputs and same gradients for inputs and parameters."""
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(2, 6, 10, 5)), jnp.float32)
  ours = Upsample2x(7, dtype=dtype)
  library = nn.ConvTranspose(7, (2, 2), strides=(2, 2), dtype=dtype)
  variables = ours.init(jax.random.key(1), x)
  library_variables = library.init(jax.random.key(1), x)
  assert jax.tree.map(jnp.shape, variables) == jax.tree.map(jnp.shape, library_variables)
  np.testing.assert_array_equal(
    variables["params"]["kernel"], library_variables["params"]["kernel"]
  )
  # A non-zero bias so that its gradient and its place in the output are checked too.
  variables = {"params": {**variables["params"], "bias": jnp.arange(7.0) / 7}}
  cotangent = jnp.asarray(rng.normal(size=(2, 12, 20, 7)), jnp.float32)

  def loss(module, variables, x):
    return jnp.sum(module.apply(variables, x).astype(jnp.float32) * cotangent)

  np.testing.assert_allclose(
    ours.apply(variables, x).astype(jnp.float32),
    library.apply(variables, x).astype(jnp.float32),
    atol=tolerance,
    rtol=tolerance,
  )
  ours_grads = jax.grad(loss, argnums=(1, 2))(ours, variables, x)
  library_grads = jax.grad(loss, argnums=(1, 2))(library, variables, x)
  for a, b in zip(jax.tree.leaves(ours_grads), jax.tree.leaves(library_grads), strict=True):
    scale = float(jnp.abs(b).max())
    np.testing.assert_allclose(a, b, atol=tolerance * scale, rtol=tolerance)


@pytest.mark.parametrize("platform", ["cpu", "gpu"])
def test_fast_operations_do_not_change_the_model(platform):
  """The best variant with the fast operations of a platform (models/conv.py, Upsample2x,
  max_pool2x) against lax's convolutions, nn.ConvTranspose and nn.max_pool: the same parameter
  tree, logits, batch statistics and gradients."""
  config = dict(MODEL_VARIANTS["resunet_ag_se"], filters=(8, 16, 32))
  fast, library = ResUNet(**config, **operations(platform)), ResUNet(**config)
  images = jnp.asarray(np.random.default_rng(0).normal(size=(2, 64, 64, 3)), jnp.float32)
  variables = library.init(jax.random.key(0), images)
  assert jax.tree.structure(fast.init(jax.random.key(0), images)) == jax.tree.structure(variables)

  def loss(model, params):
    logits, updates = model.apply(
      {**variables, "params": params}, images, train=True, mutable=["batch_stats"]
    )
    return jnp.mean(jnp.square(logits - 0.5)), (logits, updates)

  (fast_loss, fast_aux), fast_grads = jax.value_and_grad(loss, 1, has_aux=True)(
    fast, variables["params"]
  )
  (lib_loss, lib_aux), lib_grads = jax.value_and_grad(loss, 1, has_aux=True)(
    library, variables["params"]
  )
  np.testing.assert_allclose(fast_loss, lib_loss, rtol=1e-5)
  for ours, theirs in zip(
    jax.tree.leaves((fast_aux, fast_grads)), jax.tree.leaves((lib_aux, lib_grads)), strict=True
  ):
    # Some gradients are zero in exact arithmetic (a bias just before batch norm): an absolute
    # floor keeps their rounding noise from counting as a difference.
    scale = float(jnp.abs(theirs).max())
    np.testing.assert_allclose(ours, theirs, atol=1e-4 * scale + 1e-7, rtol=1e-3)


def test_max_pool2x_equals_flax_max_pool():
  """Outputs equal; gradients equal wherever the window has a single maximum (continuous
  inputs); on ReLU-tied zeros both send nothing through the ReLU."""
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(2, 8, 12, 3)), jnp.float32)
  cotangent = jnp.asarray(rng.normal(size=(2, 4, 6, 3)), jnp.float32)
  library = lambda x: nn.max_pool(x, (2, 2), strides=(2, 2))  # noqa: E731
  for pre in (lambda x: x, nn.relu):
    ours_out, ours_vjp = jax.vjp(lambda x, pre=pre: max_pool2x(pre(x)), x)
    lib_out, lib_vjp = jax.vjp(lambda x, pre=pre: library(pre(x)), x)
    np.testing.assert_array_equal(ours_out, lib_out)
    np.testing.assert_array_equal(ours_vjp(cotangent)[0], lib_vjp(cotangent)[0])


def test_model_from_config_takes_every_field_and_the_operations():
  """Built as ResUNet(**config.model): the switches arrive, and fast_convolutions picks the
  operations (the fast ones inject Upsample2x and max_pool2x, the library ones do not)."""
  from configs import best

  config = best.get_config("model=dual_attention").model
  config.filters = (8, 16)
  model = model_from_config(config, "cpu")
  assert model.spatial_attention and not model.attention_gates and model.filters == (8, 16)
  assert model.upsample is Upsample2x and model.pool is max_pool2x
  config.fast_convolutions = False
  library = model_from_config(config, "cpu")
  assert library.upsample is not Upsample2x and library.pool is not max_pool2x


def test_blocks_take_no_speed_flag():
  """Blocks know nothing about devices: no field of any block is a speed switch."""
  import dataclasses

  from flood_jax.models import blocks

  for module in (blocks.ConvBlock, blocks.AttentionGate, blocks.SpatialAttention, ResUNet):
    names = {field.name for field in dataclasses.fields(module)}
    assert not {name for name in names if "fast" in name or "backend" in name}, module
