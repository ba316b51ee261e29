import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flood_jax.core import metrics


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


def test_scene_iou_is_what_the_rates_give_on_a_scene_of_five_percent_water():
  """A scene of 1,000,000 px with 50,000 px of water, mapped at omission 0.25 and commission
  0.10: 37,500 TP, 12,500 FN and 95,000 FP, IoU 37,500 / 145,000."""
  rates = metrics.error_rates([[90, 10], [5, 15]])
  assert rates["scene_iou_5pct"] == pytest.approx(37_500 / 145_000)
  assert metrics.scene_iou(0.0, 0.0) == 1.0 and metrics.scene_iou(1.0, 0.0) == 0.0
  # The figures: the bundled model's 0.075 / 0.059 on unseen chips give about 0.44.
  assert metrics.scene_iou(0.075, 0.059) == pytest.approx(0.44, abs=0.005)
  assert np.isnan(metrics.error_rates([[97, 3], [0, 0]])["scene_iou_5pct"])


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


def _calibrated(water_probabilities, dry_probabilities):
  probability = np.r_[water_probabilities, dry_probabilities]
  logits = jnp.asarray(np.log(probability / (1 - probability)), jnp.float32)
  label = jnp.asarray(np.r_[np.ones(len(water_probabilities)), np.zeros(len(dry_probabilities))])
  histograms = metrics.probability_histograms(logits, label, jnp.ones(len(probability), bool))
  assert np.asarray(histograms).sum() == len(probability)
  assert np.asarray(histograms)[1].sum() == len(water_probabilities)
  return metrics.calibrate_threshold(histograms)


def test_threshold_calibration_picks_the_best_threshold_on_a_constructed_case():
  """Water at probabilities 0.3-0.4, dry land at 0.05-0.1 and 0.2-0.25: only thresholds in
  [0.25, 0.3) separate them (0.5 would miss all the water, 0.15 take in dry land)."""
  rng = np.random.default_rng(0)
  water = rng.uniform(0.3, 0.4, 1000)
  dry = np.r_[rng.uniform(0.05, 0.1, 3000), rng.uniform(0.2, 0.25, 500)]
  threshold, iou = _calibrated(water, dry)
  assert 0.25 <= threshold <= 0.3 and iou == pytest.approx(1.0)
  # Dry land up to 0.5 and water above 0.55: the threshold moves up to separate them.
  threshold, iou = _calibrated(rng.uniform(0.55, 0.9, 1000), rng.uniform(0.1, 0.5, 3000))
  assert 0.5 <= threshold <= 0.55 and iou == pytest.approx(1.0)
  # Overlapping classes: the chosen threshold is the IoU-best of a fine scan.
  water, dry = rng.beta(5, 2, 5000), rng.beta(2, 5, 20000)
  threshold, iou = _calibrated(water, dry)
  scan = {
    t: np.sum(water > t) / (np.sum(water > t) + np.sum(dry > t) + np.sum(water <= t))
    for t in np.arange(0.05, 0.951, 0.001)
  }
  best = max(scan, key=scan.get)
  assert abs(threshold - best) <= 0.002 and iou == pytest.approx(scan[best], abs=2e-3)
