"""Chip evaluators at training's evaluation steps: the config.evals entries with
`during_training: True`, run on the whole chips of a split (`split`, default valid) of the data
the run was cut from, with the model of the current step, their scalars logged beside the
tiles' validation metrics. `python -m flood_jax.main` hands `ChipEvaluations` to training, which
knows nothing of evaluators.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from flood_jax.dataset.catalog import build_catalog
from flood_jax.evaluation.chips import chip_results, run_evaluators
from flood_jax.evaluation.registry import evaluators_from
from flood_jax.mapping.inference import TrainedModel


class StepEngine:
  """An engine (`mapping.engines`) of a training step's `predict(images) -> probabilities`."""

  name, precision = "xla", "float32"

  def __init__(self, predict):
    self.predict = predict

  def __call__(self, images: np.ndarray) -> np.ndarray:
    return np.asarray(self.predict(images), np.float32)


def scalars(value, prefix: str) -> dict[str, float]:
  """The numbers of an evaluator's nested results, named by their path."""
  if isinstance(value, dict):
    found = {}
    for key, item in value.items():
      found.update(scalars(item, f"{prefix}/{key}"))
    return found
  if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
    return {prefix: float(value)}
  return {}


class ChipEvaluations:
  """What training calls at each evaluation step: `(step, predict, stats, root) -> scalars`."""

  def __init__(self, config):
    self.config = config
    self.entries = {name: dict(entry) for name, entry in dict(config.evals).items()
                    if dict(entry).get("during_training", False)}  # fmt: skip
    evaluators_from(config.evals, during_training=True)  # a bad entry fails before training

  def __bool__(self) -> bool:
    return bool(self.entries)

  def __call__(self, step: int, predict, stats: dict, root: str | Path) -> dict[str, float]:
    model = TrainedModel(self.config, stats, StepEngine(predict), source=f"training step {step}")
    found = {}
    for name, entry in self.entries.items():
      evaluator = evaluators_from({name: entry})[name]
      records = build_catalog(root, (entry.get("split", "valid"),), use_weak=False)
      results = run_evaluators(chip_results(model, records), [evaluator])
      for key, value in results.items():
        if key != "skipped":
          found.update(scalars(value, f"{name}/{key}"))
    return found
