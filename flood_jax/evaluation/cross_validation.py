"""Cross-validation across real chips: folds by event and source, scores pooled and per fold,
and map rules chosen on out-of-fold probabilities (`experiments.cross_validate` runs it).

- `folds_of`: one fold per flood event where a set names its events (Sen1Floods11's countries);
  a set of hand labels without events in `parts` folds of alternate chips (DFC 2024); a set of
  weak labels (TerraMesh) in one fold, scored as a false-alarm check.
- `Scored`: each chip's confusion matrix under a `MapRule`, summed pooled (hand-labelled chips),
  per dataset and per fold: water IoU, omission, commission, the IoU on a scene of 5% flood water
  and the two-class mean IoU (water and dry averaged, what foundation-model papers quote).
- `choose_rules`: each decision of a map in turn (threshold, VV cap, VH cap, minimum mapping
  unit, the scene's own split cap), a candidate kept only where it raises the pooled 5%-scene IoU
  without lowering any dataset's water IoU.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np

from flood_jax.core.metrics import confusion_matrix, error_rates, scores
from flood_jax.dataset.records import ChipRecord
from flood_jax.mapping.map_rules import MapRule


@dataclasses.dataclass(frozen=True)
class Fold:
  """Chips trained without and scored together: `name` (dataset/event), their ids."""

  name: str
  dataset: str
  chip_ids: tuple[str, ...]


def folds_of(records: Sequence[ChipRecord], parts: int = 3) -> list[Fold]:
  """Folds by event where chips name one; else `parts` folds of alternate chips of a hand-labelled
  set, one fold of a weakly labelled set."""
  groups: dict[tuple[str, str], list[str]] = {}
  by_dataset: dict[str, list[ChipRecord]] = {}
  for record in records:
    by_dataset.setdefault(record.dataset, []).append(record)
  for dataset, chips in by_dataset.items():
    for index, record in enumerate(chips):
      if record.event is not None:
        group = record.event
      elif all(chip.source == "weak" for chip in chips):
        group = "all"
      else:
        group = f"part {index % parts + 1} of {parts}"
      groups.setdefault((dataset, group), []).append(record.chip_id)
  return [
    Fold(f"{dataset} {group}", dataset, tuple(ids)) for (dataset, group), ids in groups.items()
  ]


@dataclasses.dataclass
class ChipData:
  """A real chip's record, VV and VH in dB [H, W, 2], label and validity, and its out-of-fold
  water probability [H, W] (NaN where the input is missing)."""

  record: ChipRecord
  fold: str
  vv_vh_db: np.ndarray
  label: np.ndarray
  validity: np.ndarray
  probability: np.ndarray


def figures(counts: np.ndarray) -> dict[str, float]:
  """Water IoU, two-class mean IoU, omission, commission and 5%-scene IoU of a [2, 2] matrix."""
  summed = scores(counts)
  return {"iou": summed["iou"], "mean_iou": summed["mean_iou"], **error_rates(counts)}


class Scored:
  """Every chip's matrix under one rule, and the sums that the tables report."""

  def __init__(self, chips: Iterable[ChipData], rule: MapRule, pixel_m2: float = 100.0):
    self.rule, self.matrices, self.chips = rule, [], []
    for chip in chips:
      input_valid = np.isfinite(chip.probability)  # as `evaluate` maps a chip
      water = rule.water(chip.probability, chip.vv_vh_db, input_valid, pixel_m2)
      self.matrices.append(confusion_matrix(chip.label, water, chip.validity))
      self.chips.append(chip)

  def summed(self, keep=lambda chip: True) -> np.ndarray:
    kept = [matrix for chip, matrix in zip(self.chips, self.matrices, strict=True) if keep(chip)]
    return sum(kept, np.zeros((2, 2), np.int64))

  def pooled(self) -> dict[str, float]:
    """Over every hand-labelled chip."""
    return figures(self.summed(lambda chip: chip.record.source == "hand"))

  def by(self, key) -> dict[str, dict[str, float]]:
    """Figures per value of `key(chip)` (its dataset, its fold)."""
    values = dict.fromkeys(key(chip) for chip in self.chips)
    return {value: figures(self.summed(lambda chip, v=value: key(chip) == v)) for value in values}

  def datasets(self) -> dict[str, dict[str, float]]:
    return self.by(lambda chip: chip.record.dataset)

  def folds(self) -> dict[str, dict[str, float]]:
    return self.by(lambda chip: chip.fold)

  def chip_ious(self) -> dict[str, float]:
    return {chip.record.chip_id: scores(matrix)["iou"]
            for chip, matrix in zip(self.chips, self.matrices, strict=True)}  # fmt: skip


THRESHOLDS = tuple(np.round(np.arange(0.3, 0.951, 0.05), 2))
CANDIDATES = {
  "threshold": THRESHOLDS,
  "max_vv_db": (None, -15.5, -13.0, -11.0, -9.0),
  "max_vh_db": (None, -23.0, -20.0, -18.0),
  "min_area_m2": (0.0, 1000.0, 2500.0, 5000.0, 10000.0),
  "split_margin_db": (None, 0.0, 1.0, 2.0, 3.0),
}


def better(candidate: Scored, current: Scored, tolerance: float = 0.0) -> bool:
  """Whether `candidate` raises the pooled 5%-scene IoU and lowers no dataset's water IoU."""
  if not candidate.pooled()["scene_iou_5pct"] > current.pooled()["scene_iou_5pct"]:
    return False
  ours, theirs = candidate.datasets(), current.datasets()
  return all(
    not np.isfinite(theirs[name]["iou"]) or ours[name]["iou"] >= theirs[name]["iou"] - tolerance
    for name in theirs
  )


def choose_rules(
  chips: Sequence[ChipData], start: MapRule | None = None, candidates=CANDIDATES
) -> tuple[MapRule, list[dict]]:
  """The rule chosen one decision at a time (module doc) from `start` (threshold 0.5, nothing
  else), and the log of each decision: its candidates' pooled 5%-scene IoU and the value kept."""
  current, log = Scored(chips, start or MapRule()), []
  for field, values in candidates.items():
    tried = {}
    best = current
    for value in values:
      scored = Scored(chips, dataclasses.replace(current.rule, **{field: value}))
      tried[str(value)] = scored.pooled()["scene_iou_5pct"]
      if better(scored, best):
        best = scored
    log.append({"decision": field, "kept": getattr(best.rule, field), "tried": tried})
    current = best
  return current.rule, log
