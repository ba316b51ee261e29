"""A model evaluated on whole chips beside the baselines: per-chip rows, summed scores, tables."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from flood_jax.dataset.catalog import SPLITS, build_catalog, read_record
from flood_jax.dataset.sen1floods11 import read_permanent_water
from flood_jax.errors import DataError, UsageError
from flood_jax.evaluation.evaluators import (
  METHODS,
  Evaluator,
  Official,
  PerImage,
  Samples,
  Scores,
  Skipped,
  chip_result,
)
from flood_jax.evaluation.gradcam import layer_names
from flood_jax.evaluation.outputs import write_report
from flood_jax.evaluation.registry import evaluators_from
from flood_jax.mapping.inference import TrainedModel
from flood_jax.mapping.loading import ENGINES, PRECISIONS


def chip_results(model: TrainedModel, records, show_progress: bool = False) -> Iterator:
  """Each chip of `records` predicted and scored (a `ChipResult`), or `Skipped` with why."""
  for record in tqdm(
    records, desc="evaluate", unit="chip", disable=not show_progress, file=sys.stderr
  ):
    chip = read_record(record, model.config.data.band_domain)
    if not chip.validity.any():
      reason = "image all NaN" if not np.isfinite(chip.vv_vh_db).any() else "no valid label pixel"
      yield Skipped(record, reason)
      continue
    probability = model.predict_array(chip.vv_vh_db)
    # Chips are at the dataset's resolution, the one the model was trained at.
    water = model.rule.water(
      probability, chip.vv_vh_db, np.isfinite(probability), model.pixel_size_m**2
    )
    permanent = read_permanent_water(record.jrc_path) if record.jrc_path else None
    yield chip_result(record, chip, probability, water, permanent)


def run_evaluators(results: Iterable, evaluators: list[Evaluator]) -> dict:
  """Feeds every scored chip to every evaluator, then gathers their named results, with the
  skipped chips under "skipped"."""
  skipped = []
  for result in results:
    if isinstance(result, Skipped):
      skipped.append(result.row())
      continue
    for evaluator in evaluators:
      evaluator.add(result)
  gathered = {name: value for evaluator in evaluators for name, value in evaluator.results()}
  return {**gathered, "skipped": skipped}


def evaluate(
  model: TrainedModel,
  split: str,
  data_root: str | Path,
  output: str | Path,
  num_panels: int | None = None,
  seed: int = 0,
  show_progress: bool = True,
  gradcam_layer: str | None = None,
  evaluators: Sequence[Evaluator] = (),
) -> dict:
  """Evaluates `model` on the chips of `split` under `data_root`, writes the report into
  `output` (`evaluation.outputs`) and returns summary.json; the model config's `evals`
  (`evaluation.registry`) and `evaluators` run beside the report's own, their results join the
  summary."""
  if split not in SPLITS:
    raise UsageError(f"unknown split {split!r}; choose from {SPLITS}")
  root, output = Path(data_root), Path(output)
  records = build_catalog(root, (split,), use_weak=split == "train")
  if not records:
    raise DataError(f"{root}: no chip in the {split} split (is flood_{split}_data.csv there?)")
  num_panels = model.config.evaluate.num_panels if num_panels is None else num_panels
  built_in = [Scores(), PerImage(), Samples(num_panels, seed), Official()]
  chosen = list(evaluators_from(model.config.get("evals", {})).values())
  results = run_evaluators(
    chip_results(model, records, show_progress), [*built_in, *chosen, *evaluators]
  )
  own = {*METHODS, "per_image", "samples", "skipped", "official"}
  extra = {name: value for name, value in results.items() if name not in own}
  summary = {
    "split": split,
    "data_root": str(root),
    "num_chips": len(results["per_image"]),
    "skipped": results["skipped"],
    "threshold": model.threshold,
    **{method: results[method] for method in METHODS},
    "official": results["official"],
    **extra,
  }
  layers = [] if model.model is None else layer_names(model.model)  # Grad-CAM++ needs the model
  if not layers:
    write_report(summary, results, output)
  else:
    write_report(summary, results, output, model, gradcam_layer or layers[-1])
  return summary


def format_table(summary: dict) -> str:
  """A Markdown table of the official figures per method, from summed confusion matrices."""
  sources = [key for key in ("hand", "weak") if key in summary["model"]]
  columns = [
    "IoU",
    "2-class mIoU",
    *(f"IoU {source}" for source in sources),
    "mean chip IoU",
    "omission",
    "commission",
    "5%-scene IoU",
    "precision",
    "recall",
  ]
  lines = ["| method | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
  for method in METHODS:
    overall = summary[method]["overall"]
    cells = [
      overall["iou"],
      overall["mean_iou"],
      *(summary[method][source]["iou"] for source in sources),
      summary[method]["mean_chip_iou"],
      overall["omission"],
      overall["commission"],
      overall["scene_iou_5pct"],
      overall["precision"],
      overall["recall"],
    ]
    lines.append(f"| {method} | " + " | ".join(f"{value:.3f}" for value in cells) + " |")
  return "\n".join(lines)


OFFICIAL_NAMES = {"model": "model", "otsu_vv": "Otsu (VV)", "fixed_vv_-15db": "VV < -15 dB"}
SUBSET_NAMES = {"all": "all water", "flood": "flood water", "permanent": "permanent water"}


def official_table(summaries: dict[str, dict]) -> str:
  """The dataset authors' table (Bonafilia et al. 2020, Test_Models.ipynb) in Markdown: per
  split, kind of water and method, total IoU, the two-class mean IoU of the summed counts (not
  theirs: the figure foundation-model papers quote), mean IoU of chips, omission, commission and
  chips."""
  lines = [
    "| split | water | method | total IoU | 2-class mIoU | mean IoU | omission | commission | chips |",
    "|---|---|---|---|---|---|---|---|---|",
  ]
  for split, summary in summaries.items():
    for subset, methods in summary["official"].items():
      for method, figures in methods.items():
        keys = ("total_iou", "two_class_miou", "mean_iou", "omission", "commission")
        values = (figures[key] for key in keys)
        lines.append(
          f"| {split} | {SUBSET_NAMES[subset]} | {OFFICIAL_NAMES[method]} | "
          + " | ".join(f"{value:.3f}" for value in values)
          + f" | {figures['chips']} |"
        )
  return "\n".join(lines)


def engine_comparison(summaries: dict[str, dict]) -> str:
  """A Markdown table of the model's figures per engine, with the IoU difference from the
  first engine (the reference, e.g. XLA float32)."""
  lines = [
    "| engine | IoU | IoU - first | 2-class mIoU | omission | commission | 5%-scene IoU |",
    "|---|---|---|---|---|---|---|",
  ]
  first = None
  for engine, summary in summaries.items():
    overall = summary["model"]["overall"]
    first = overall["iou"] if first is None else first
    lines.append(
      f"| {engine} | {overall['iou']:.4f} | {overall['iou'] - first:+.4f} | "
      f"{overall['mean_iou']:.4f} | "
      f"{overall['omission']:.3f} | {overall['commission']:.3f} | "
      f"{overall['scene_iou_5pct']:.3f} |"
    )
  return "\n".join(lines)


def engine_specs(values: list[str]) -> list[tuple[str, str]]:
  """(engine, precision) of each --engines item: xla, onnxruntime, onnxruntime:int8, ..."""
  specs = []
  for value in values:
    engine, _, precision = value.partition(":")
    if engine not in ENGINES or (precision or "auto") not in PRECISIONS:
      raise UsageError(
        f"--engines={value}: expected ENGINE[:PRECISION] with ENGINE in {ENGINES[1:]} and "
        f"PRECISION in {PRECISIONS[1:]}"
      )
    specs.append((engine, precision or "auto"))
  return specs
