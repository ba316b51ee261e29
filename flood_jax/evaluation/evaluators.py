"""Evaluators of whole-chip predictions: small objects that return values, never write files.

Each evaluator takes the chips one `ChipResult` at a time (`add`) and then yields named results
(`results`). The driver (`evaluation.chips`) computes every prediction and confusion matrix
once per chip and hands the same `ChipResult` to all of them; `evaluation.outputs` writes the
files and figures from their values:

- `Scores`: the official Sen1Floods11 figures of the model and of each baseline, from summed
  confusion matrices, overall and per source, and the mean of per-chip IoUs;
- `PerImage`: one row per chip;
- `Samples`: a seeded sample of chips per source (what the panels and Grad-CAM++ figures show);
- `Official`: the dataset authors' table (their `Test_Models.ipynb`): for all water and, where
  chips carry a JRCWaterHand layer, flood water and permanent water apart, the total IoU of
  summed counts, the mean of per-chip IoUs, omission and commission of each method.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np

from flood_jax.core import baselines
from flood_jax.core.metrics import confusion_matrix, error_rates, scores
from flood_jax.dataset.catalog import ChipRecord
from flood_jax.dataset.records import Chip

METHODS = ("model", "otsu_vv", "fixed_vv_-15db")
PER_IMAGE_SCORES = (
  "iou",
  "dice",
  "precision",
  "recall",
  "f1",
  "accuracy",
  "omission",
  "commission",
)


@dataclasses.dataclass(frozen=True)
class Skipped:
  """A chip that could not be scored, and why."""

  record: ChipRecord
  reason: str

  def row(self) -> dict:
    return {"chip_id": self.record.chip_id, "source": self.record.source, "reason": self.reason}


@dataclasses.dataclass
class ChipResult:
  """One chip with the model's probability and every method's confusion matrix.

  probability: float32 [H, W], NaN where the input is missing. water: method -> bool [H, W].
  confusion: method -> int64 [2, 2] over valid pixels (rows truth, columns prediction).
  """

  record: ChipRecord
  chip: Chip
  probability: np.ndarray
  water: dict[str, np.ndarray]
  confusion: dict[str, np.ndarray]
  permanent: np.ndarray | None = None  # bool [H, W]: JRC's permanent water, where known


def chip_result(
  record: ChipRecord,
  chip: Chip,
  probability: np.ndarray,
  model_water: np.ndarray,
  permanent: np.ndarray | None = None,
):
  """Predictions of the model (its map `model_water`) and the baselines on one chip, each
  scored once; `permanent`: the chip's JRC permanent water, if it has the layer."""
  vv = chip.vv_vh_db[..., 0]
  water = {
    "model": model_water,
    "otsu_vv": baselines.otsu_water(vv, chip.validity),
    "fixed_vv_-15db": baselines.fixed_threshold_water(vv, chip.validity),
  }
  confusion = {
    method: confusion_matrix(chip.label, predicted, chip.validity)
    for method, predicted in water.items()
  }
  return ChipResult(record, chip, probability, water, confusion, permanent)


def all_scores(counts: np.ndarray) -> dict[str, float]:
  """IoU and friends with omission and commission, from one [2, 2] matrix."""
  return {**scores(counts), **error_rates(counts)}


class Evaluator(Protocol):
  def add(self, result: ChipResult) -> None: ...

  def results(self) -> Iterator[tuple[str, Any]]: ...


class Scores:
  """Per method: `overall` and per-source scores from summed matrices, the mean of per-chip
  water IoUs (chips with water in truth or prediction), and the summed matrix itself."""

  def __init__(self):
    self.counts = {method: {} for method in METHODS}
    self.chip_ious = {method: [] for method in METHODS}

  def add(self, result: ChipResult) -> None:
    source = result.record.source
    for method, matrix in result.confusion.items():
      self.counts[method][source] = self.counts[method].get(source, 0) + matrix
      self.chip_ious[method].append(scores(matrix)["iou"])

  def results(self) -> Iterator[tuple[str, Any]]:
    for method in METHODS:
      per_source = self.counts[method]
      overall = sum(per_source.values(), np.zeros((2, 2), np.int64))
      ious = [iou for iou in self.chip_ious[method] if np.isfinite(iou)]
      yield (
        method,
        {
          "overall": all_scores(overall),
          **{source: all_scores(matrix) for source, matrix in per_source.items()},
          "mean_chip_iou": float(np.mean(ious)) if ious else float("nan"),
          "confusion": overall.tolist(),
        },
      )


class PerImage:
  """One row per chip: counts and scores of the model, water IoU of each baseline."""

  def __init__(self):
    self.rows = []

  def add(self, result: ChipResult) -> None:
    matrix = result.confusion["model"]
    (true_negative, false_positive), (false_negative, true_positive) = matrix.tolist()
    model_scores = all_scores(matrix)
    self.rows.append(
      {
        "chip_id": result.record.chip_id,
        "source": result.record.source,
        "valid_pixels": int(matrix.sum()),
        "tp": true_positive,
        "fp": false_positive,
        "fn": false_negative,
        "tn": true_negative,
        **{name: model_scores[name] for name in PER_IMAGE_SCORES},
        **{f"{method}_iou": scores(result.confusion[method])["iou"] for method in METHODS[1:]},
      }
    )

  def results(self) -> Iterator[tuple[str, Any]]:
    yield "per_image", self.rows


def sample_chips(results: list[ChipResult], count: int, seed: int) -> list[ChipResult]:
  """A seeded choice of `count` chips per source (the same for every figure evaluator)."""
  rng = np.random.default_rng(seed)
  chosen = []
  for source in ("hand", "weak"):
    candidates = [result for result in results if result.record.source == source]
    if candidates:
      picks = rng.choice(len(candidates), min(count, len(candidates)), replace=False)
      chosen += [candidates[index] for index in sorted(picks)]
  return chosen


class Samples:
  """A seeded sample of `count` chips per source, for the figures of `evaluation.outputs`."""

  def __init__(self, count: int, seed: int):
    self.count, self.seed = count, seed
    self.chips: list[ChipResult] = []

  def add(self, result: ChipResult) -> None:
    if self.count:
      self.chips.append(result)

  def results(self) -> Iterator[tuple[str, Any]]:
    yield "samples", sample_chips(self.chips, self.count, self.seed)


SUBSETS = ("all", "flood", "permanent")
SMOOTH = 1e-7  # the notebook's: a chip with no water in truth nor prediction has IoU 1


def official_subsets(result: ChipResult) -> Iterator[tuple[str, np.ndarray]]:
  """(subset, pixels scored) of one chip, as the dataset's authors split it: all water; flood
  water, with permanent water's labelled pixels ignored; permanent water, with flood water's
  ignored. A chip whose labelled water has none of a subset's is left out of that subset (one
  with no water at all stays in every subset)."""
  valid, water = result.chip.validity, result.chip.label != 0
  yield "all", valid
  if result.permanent is None:
    return
  has_water = bool((water & valid).any())
  for subset, ignored in (("flood", water & result.permanent),
                          ("permanent", water & ~result.permanent)):  # fmt: skip
    kept = valid & ~ignored
    if has_water and not (water & kept).any():
      continue
    yield subset, kept


def official_iou(counts: np.ndarray) -> float:
  """The notebook's per-chip IoU: (TP + 1e-7) / (TP + FP + FN + 1e-7)."""
  (_, false_positive), (false_negative, true_positive) = counts.tolist()
  return (true_positive + SMOOTH) / (true_positive + false_positive + false_negative + SMOOTH)


def official_scores(counts: np.ndarray, chip_ious: list[float]) -> dict:
  """Total IoU (of the summed counts), mean IoU (of per-chip IoUs), omission and commission as
  the notebook prints them, and the two-class mean IoU of the summed counts (water and dry IoU
  averaged, which foundation-model papers quote)."""
  summed = all_scores(counts)
  return {
    "total_iou": summed["iou"],
    "two_class_miou": summed["mean_iou"],  # water and dry IoU of the summed counts, averaged
    "mean_iou": float(np.mean(chip_ious)) if chip_ious else float("nan"),
    "omission": summed["omission"],
    "commission": summed["commission"],
    "chips": len(chip_ious),
  }


class Official:
  """The dataset authors' figures per subset and method (`official_subsets`)."""

  def __init__(self):
    self.counts, self.ious = {}, {}

  def add(self, result: ChipResult) -> None:
    truth = result.chip.label
    for subset, scored in official_subsets(result):
      for method, predicted in result.water.items():
        key = (subset, method)
        matrix = confusion_matrix(truth, predicted, scored)
        self.counts[key] = self.counts.get(key, np.zeros((2, 2), np.int64)) + matrix
        self.ious.setdefault(key, []).append(official_iou(matrix))

  def results(self) -> Iterator[tuple[str, Any]]:
    table = {}
    for subset in SUBSETS:
      methods = {method: official_scores(self.counts[subset, method], self.ious[subset, method])
                 for method in METHODS if (subset, method) in self.counts}  # fmt: skip
      if methods:
        table[subset] = methods
    yield "official", table
