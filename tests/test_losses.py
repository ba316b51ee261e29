import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flood_jax.training import losses

ALL = sorted(losses.LOSSES)


def _batch(seed=0, shape=(2, 8, 8, 1)):
  rng = np.random.default_rng(seed)
  logits = jnp.asarray(rng.normal(0, 2, shape), jnp.float32)
  label = jnp.asarray(rng.integers(0, 2, shape), jnp.float32)
  validity = jnp.asarray(rng.uniform(size=shape) > 0.3)
  return logits, label, validity


@pytest.mark.parametrize("name", ALL)
def test_invalid_pixels_change_neither_loss_nor_gradient(name):
  loss = losses.LOSSES[name]
  logits, label, validity = _batch()
  other_logits = jnp.where(validity, logits, 1e3 * jnp.sign(logits) + 7.0)
  other_label = jnp.where(validity, label, 1.0 - label)
  value, grad = jax.value_and_grad(loss)(logits, label, validity)
  other_value, other_grad = jax.value_and_grad(loss)(other_logits, other_label, validity)
  np.testing.assert_allclose(value, other_value, rtol=1e-6)
  np.testing.assert_allclose(grad, other_grad, rtol=1e-5, atol=1e-9)
  assert np.all(np.asarray(grad)[~np.asarray(validity)] == 0.0)
  assert np.any(np.asarray(grad)[np.asarray(validity)] != 0.0)


@pytest.mark.parametrize("name", ALL)
def test_all_invalid_batch_gives_zero_loss_and_finite_gradient(name):
  logits, label, _ = _batch()
  validity = jnp.zeros_like(label, bool)
  value, grad = jax.value_and_grad(losses.LOSSES[name])(logits, label, validity)
  assert value == 0.0
  assert np.isfinite(np.asarray(grad)).all()


def test_hand_computation_on_three_pixels():
  logits = jnp.array([0.0, 2.0, -1.0, 5.0]).reshape(1, 2, 2, 1)
  label = jnp.array([1.0, 0.0, 1.0, 1.0]).reshape(1, 2, 2, 1)
  validity = jnp.array([True, True, True, False]).reshape(1, 2, 2, 1)
  p = 1 / (1 + np.exp(-np.array([0.0, 2.0, -1.0])))
  y = np.array([1.0, 0.0, 1.0])
  tp, fn, fp = np.sum(p * y), np.sum((1 - p) * y), np.sum(p * (1 - y))
  bce = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
  np.testing.assert_allclose(losses.binary_cross_entropy(logits, label, validity), bce, rtol=1e-6)
  weighted = -(2 * np.log(p[0]) + np.log(1 - p[1]) + 2 * np.log(p[2])) / 5
  np.testing.assert_allclose(
    losses.binary_cross_entropy(logits, label, validity, water_weight=2.0), weighted, rtol=1e-6
  )
  dice = 1 - (2 * tp + 1) / (2 * tp + fp + fn + 1)
  np.testing.assert_allclose(losses.dice(logits, label, validity), dice, rtol=1e-6)
  ti = (tp + 1) / (tp + 0.7 * fn + 0.3 * fp + 1)
  np.testing.assert_allclose(losses.tversky(logits, label, validity), 1 - ti, rtol=1e-6)
  np.testing.assert_allclose(
    losses.focal_tversky(logits, label, validity), (1 - ti) ** 0.75, rtol=1e-6
  )
  p_true = np.where(y > 0, p, 1 - p)
  focal = np.mean(-((1 - p_true) ** 2) * np.log(p_true))
  np.testing.assert_allclose(losses.focal(logits, label, validity), focal, rtol=1e-5)


def test_alpha_weighs_false_negatives():
  """All-water truth predicted dry is all false negatives: only alpha moves the loss."""
  logits = jnp.full((1, 4, 4, 1), -4.0)
  label = jnp.ones((1, 4, 4, 1))
  validity = jnp.ones((1, 4, 4, 1), bool)
  high_alpha = losses.tversky(logits, label, validity, alpha=0.9, beta=0.1, smooth=0.0)
  low_alpha = losses.tversky(logits, label, validity, alpha=0.1, beta=0.9, smooth=0.0)
  assert high_alpha > low_alpha


def test_focal_tversky_gradient_finite_at_perfect_prediction():
  label = jnp.ones((1, 4, 4, 1))
  logits = jnp.full((1, 4, 4, 1), 40.0)
  grad = jax.grad(functools.partial(losses.focal_tversky, smooth=0.0))(
    logits, label, jnp.ones_like(label, bool)
  )
  assert np.isfinite(np.asarray(grad)).all()


def test_combined_loss_is_the_weighted_sum():
  logits, label, validity = _batch(3)
  total = losses.combined_loss(logits, label, validity, {"dice": 0.5, "focal": 2.0})
  expected = 0.5 * losses.dice(logits, label, validity) + 2.0 * losses.focal(
    logits, label, validity
  )
  np.testing.assert_allclose(total, expected, rtol=1e-6)
  with pytest.raises(ValueError, match="unknown loss"):
    losses.combined_loss(logits, label, validity, {"lovasz": 1.0})
