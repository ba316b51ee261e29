import jax
import jax.numpy as jnp
import numpy as np
import pytest
from clu import parameter_overview

from flood_jax.models import MODEL_VARIANTS, ResUNet


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
  """The count recorded in the README: ResUNet + attention gates + SE, default filters."""
  model = ResUNet(**MODEL_VARIANTS["resunet_ag_se"])
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 256, 256, 3))))
  count = sum(leaf.size for leaf in jax.tree.leaves(variables["params"]))
  print(parameter_overview.get_parameter_overview(variables["params"], include_stats=False)[-200:])
  assert count == 8_189_474
