import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flood_jax import metrics


def test_confusion_and_scores_by_hand():
  logits = jnp.array([3.0, 3.0, -3.0, -3.0, 3.0, -3.0]).reshape(1, 2, 3, 1)
  label = jnp.array([1, 0, 1, 0, 1, 1]).reshape(1, 2, 3, 1)
  validity = jnp.array([1, 1, 1, 1, 1, 0], bool).reshape(1, 2, 3, 1)
  counts = np.asarray(metrics.confusion_counts(logits, label, validity))
  np.testing.assert_array_equal(counts, [[1, 1], [1, 2]])  # TN FP / FN TP
  result = metrics.scores(counts)
  assert result["iou"] == 2 / 4 and result["iou_dry"] == 1 / 3
  assert result["mean_iou"] == (2 / 4 + 1 / 3) / 2
  assert result["precision"] == 2 / 3 and result["recall"] == 2 / 3
  assert result["dice"] == result["f1"] == 4 / 6
  assert result["accuracy"] == 3 / 5 and result["valid_pixels"] == 5


def test_threshold_moves_predictions():
  logits = jnp.array([0.1]).reshape(1, 1, 1, 1)
  label = jnp.ones((1, 1, 1, 1))
  validity = jnp.ones((1, 1, 1, 1), bool)
  assert metrics.confusion_counts(logits, label, validity, 0.5)[1, 1] == 1
  assert metrics.confusion_counts(logits, label, validity, 0.6)[1, 1] == 0


def test_all_invalid_gives_no_counts_and_nan_scores():
  counts = metrics.confusion_counts(
    jnp.ones((1, 2, 2, 1)), jnp.ones((1, 2, 2, 1)), jnp.zeros((1, 2, 2, 1), bool)
  )
  assert int(np.sum(counts)) == 0
  assert np.isnan(metrics.scores(counts)["iou"])


def test_merged_halves_equal_the_whole_batch():
  rng = np.random.default_rng(0)
  logits = jnp.asarray(rng.normal(size=(4, 8, 8, 1)))
  label = jnp.asarray(rng.integers(0, 2, (4, 8, 8, 1)))
  validity = jnp.asarray(rng.uniform(size=(4, 8, 8, 1)) > 0.2)
  loss = jnp.asarray([0.3, 0.5, 0.7, 0.9])

  def collect(part):
    return metrics.SegmentationMetrics.single_from_model_output(
      logits=logits[part], label=label[part], validity=validity[part], loss=loss[part].mean()
    )

  whole = metrics.flatten(collect(slice(0, 4)))
  merged = metrics.flatten(collect(slice(0, 2)).merge(collect(slice(2, 4))))
  assert whole.pop("loss") == pytest.approx(merged.pop("loss"), rel=1e-6)
  assert whole == merged
  # Merging is exact beyond int32: counts sum in int64 on the host.
  big = metrics.ConfusionMatrix(counts=np.full((2, 2), 2**31 - 1, np.int64))
  assert int(big.merge(big).counts.sum()) == 4 * 2 * (2**31 - 1)


def test_omission_and_commission_by_hand():
  """Official Sen1Floods11 rates: omission FN / (FN + TP), commission FP / (FP + TN); a chip
  with no water has no omission, a chip with no dry pixel no commission."""
  rates = metrics.error_rates([[90, 10], [5, 15]])  # TN FP / FN TP
  assert rates["omission"] == 5 / 20 and rates["commission"] == 10 / 100
  no_water = metrics.error_rates([[97, 3], [0, 0]])
  assert np.isnan(no_water["omission"]) and no_water["commission"] == 3 / 100
  no_dry = metrics.error_rates([[0, 0], [4, 36]])
  assert no_dry["omission"] == 4 / 40 and np.isnan(no_dry["commission"])


def test_one_confusion_matrix_for_device_and_host():
  """The jitted step's counts (jax, int32) and the chips' (numpy, int64) come from one
  definition and agree."""
  rng = np.random.default_rng(0)
  truth, predicted = rng.random((2, 3, 17, 19)) > 0.5
  validity = rng.random((3, 17, 19)) > 0.2
  on_host = metrics.confusion_matrix(truth, predicted, validity)
  on_device = jax.jit(metrics.confusion_matrix)(truth, predicted, validity)
  assert on_host.dtype == np.int64 and on_device.dtype == jnp.int32
  np.testing.assert_array_equal(on_host, np.asarray(on_device))
  assert on_host.sum() == validity.sum() and on_host[1].sum() == (truth & validity).sum()
