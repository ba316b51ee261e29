"""Masked segmentation metrics from a summed confusion matrix over valid pixels.

Counts are summed over steps and devices first and every score is derived from the sums, so a
split's IoU is that of the whole split, never a mean of per-batch IoUs. A score whose
denominator is zero (no water in truth nor prediction, say) is NaN.
"""

import flax
import jax
import jax.numpy as jnp
import numpy as np
from clu import metrics as clu_metrics


def confusion_matrix(truth, predicted, validity):
  """[2, 2] counts over valid pixels: rows truth (dry, water), columns prediction (dry, water).

  The one definition, for jitted steps (jax arrays: int32 per batch, summed in int64 on the
  host) and for whole chips and baselines (numpy arrays: int64). Nonzero means water.
  """
  xp, dtype = (jnp, jnp.int32) if isinstance(truth, jax.Array) else (np, np.int64)
  truth, predicted = xp.asarray(truth) != 0, xp.asarray(predicted) != 0
  valid = xp.asarray(validity).astype(bool)
  cells = [
    [xp.sum(valid & (truth == actual) & (predicted == guess), dtype=dtype) for guess in (0, 1)]
    for actual in (0, 1)
  ]
  return xp.array(cells, dtype=dtype)


def confusion_counts(logits, label, validity, threshold: float = 0.5) -> jnp.ndarray:
  """int32 [2, 2] `confusion_matrix` of water where sigmoid(logit) > threshold."""
  logit_threshold = jnp.log(threshold) - jnp.log1p(-threshold)
  return confusion_matrix(jnp.asarray(label), logits > logit_threshold, validity)


THRESHOLD_BINS = 1000  # probability histogram bins for threshold calibration (0.001 wide)


def probability_histograms(logits, label, validity) -> jnp.ndarray:
  """float32 [2, THRESHOLD_BINS]: how many valid dry (row 0) and water (row 1) pixels have each
  water probability sigmoid(logit), in bins of 1 / THRESHOLD_BINS over [0, 1]."""
  probability = jax.nn.sigmoid(logits.astype(jnp.float32)).reshape(-1)
  valid = validity.reshape(-1).astype(jnp.float32)
  water = (label.reshape(-1) > 0).astype(jnp.float32)
  index = jnp.clip((probability * THRESHOLD_BINS).astype(jnp.int32), 0, THRESHOLD_BINS - 1)
  return jnp.stack(
    [
      jnp.zeros(THRESHOLD_BINS).at[index].add(valid * (1 - water)),
      jnp.zeros(THRESHOLD_BINS).at[index].add(valid * water),
    ]
  )


def calibrate_threshold(histograms, low: float = 0.05, high: float = 0.95) -> tuple[float, float]:
  """(threshold, water IoU): the decision threshold in [low, high] that maximises water IoU on
  pixels counted in `histograms` (from `probability_histograms`, summed over a split).

  A pixel is water where its probability is above the threshold, so thresholds are bin edges;
  on a tie the one nearest 0.5 wins.
  """
  dry, water = np.asarray(histograms, np.float64)
  edges = np.arange(THRESHOLD_BINS) / THRESHOLD_BINS  # threshold k: bins k.. are water
  true_positive = np.cumsum(water[::-1])[::-1]
  false_positive = np.cumsum(dry[::-1])[::-1]
  false_negative = water.sum() - true_positive
  union = true_positive + false_positive + false_negative
  iou = np.where(union > 0, true_positive / np.maximum(union, 1), 0.0)
  allowed = (edges >= low) & (edges <= high)
  best = np.max(iou[allowed])
  candidates = np.flatnonzero(allowed & (iou >= best))
  choice = candidates[np.argmin(np.abs(edges[candidates] - 0.5))]
  return float(edges[choice]), float(iou[choice])


def scores(counts) -> dict[str, float]:
  """Scores of a [2, 2] confusion matrix (rows truth dry/water, columns prediction)."""
  counts = np.asarray(counts, np.float64)
  true_negative, false_positive = counts[0]
  false_negative, true_positive = counts[1]

  def ratio(numerator, denominator):
    return float(numerator / denominator) if denominator > 0 else float("nan")

  iou_water = ratio(true_positive, true_positive + false_positive + false_negative)
  dice = ratio(2 * true_positive, 2 * true_positive + false_positive + false_negative)
  iou_dry = ratio(true_negative, true_negative + false_positive + false_negative)
  return {
    "iou": iou_water,
    "iou_dry": iou_dry,
    "mean_iou": float(np.nanmean([iou_water, iou_dry]))
    if np.isfinite([iou_water, iou_dry]).any()
    else float("nan"),
    "dice": dice,
    "precision": ratio(true_positive, true_positive + false_positive),
    "recall": ratio(true_positive, true_positive + false_negative),
    "f1": dice,  # the F1 score of water is its Dice coefficient
    "accuracy": ratio(true_positive + true_negative, counts.sum()),
    "valid_pixels": int(counts.sum()),
  }


SCENE_WATER_SHARE = 0.05  # the flood water share of the whole scene `scene_iou` imagines


def scene_iou(omission: float, commission: float, water_share: float = SCENE_WATER_SHARE) -> float:
  """The water IoU that these error rates give on a whole scene that is `water_share` water:
  TP = (1 - omission) w, FN = omission w, FP = commission (1 - w). Chips are often half water;
  a scene is mostly dry land, where commission decides whether the map can be used."""
  true_positive = (1.0 - omission) * water_share
  return true_positive / (water_share + commission * (1.0 - water_share))


def error_rates(counts) -> dict[str, float]:
  """The official Sen1Floods11 error rates of a [2, 2] matrix (rows truth, columns prediction):
  omission = FN / (FN + TP), the share of water missed; commission = FP / (FP + TN), the share of
  dry land called water. NaN where the class is absent from the truth. With both, `scene_iou`:
  the IoU they give on a scene that is 5% flood water."""
  counts = np.asarray(counts, np.float64)
  (true_negative, false_positive), (false_negative, true_positive) = counts
  water, dry = false_negative + true_positive, false_positive + true_negative
  omission = float(false_negative / water) if water > 0 else float("nan")
  commission = float(false_positive / dry) if dry > 0 else float("nan")
  return {
    "omission": omission,
    "commission": commission,
    "scene_iou_5pct": scene_iou(omission, commission),
  }


@flax.struct.dataclass
class ConfusionMatrix(clu_metrics.Metric):
  """Summed [2, 2] confusion matrix; merges exactly (int64 on the host)."""

  counts: jnp.ndarray

  @classmethod
  def from_model_output(
    cls, logits=None, label=None, validity=None, threshold=0.5, counts=None, **_
  ) -> "ConfusionMatrix":
    """From model outputs, or from `counts` already computed (e.g. inside a jitted step)."""
    if counts is None:
      counts = confusion_counts(logits, label, validity, threshold)
    return cls(counts=counts)

  @classmethod
  def empty(cls) -> "ConfusionMatrix":
    return cls(counts=np.zeros((2, 2), np.int64))

  def merge(self, other: "ConfusionMatrix") -> "ConfusionMatrix":
    # int64 numpy on the host: a split has more pixels than int32 can count.
    return type(self)(counts=np.asarray(self.counts, np.int64) + np.asarray(other.counts, np.int64))

  def reduce(self) -> "ConfusionMatrix":
    counts = np.asarray(self.counts, np.int64)
    return type(self)(counts=counts.reshape(-1, 2, 2).sum(0))

  def compute(self) -> dict[str, float]:
    return scores(self.counts)


# No `from __future__ import annotations` in this file: clu reads these annotations as classes.
@flax.struct.dataclass
class SegmentationMetrics(clu_metrics.Collection):
  """Loss average and confusion-matrix scores of a split."""

  confusion: ConfusionMatrix
  loss: clu_metrics.Average.from_output("loss")


def flatten(collection: SegmentationMetrics) -> dict[str, float]:
  """{"loss": ..., "iou": ..., ...} from a metrics collection."""
  computed = collection.compute()
  return {"loss": float(computed["loss"]), **computed["confusion"]}
