"""A model evaluated on whole chips beside the baselines: per-chip rows, summed scores, tables."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from flood_jax.core.files import write_json
from flood_jax.dataset.catalog import SPLITS, build_catalog
from flood_jax.errors import DataError, UsageError
from flood_jax.evaluation.evaluators import (
  METHODS,
  ChipResult,
  ConfusionPlots,
  Evaluator,
  GradCam,
  Panels,
  PerImage,
  Scores,
  chip_result,
)
from flood_jax.evaluation.gradcam import layer_names
from flood_jax.mapping.inference import ENGINES, PRECISIONS, TrainedModel
from flood_jax.scenes.geotiff import read_chip


def chip_results(
  model: TrainedModel, records, skipped: list, show_progress: bool
) -> Iterator[ChipResult]:
  """Each chip of `records` predicted and scored; chips with no valid pixel go to `skipped`."""
  for record in tqdm(
    records, desc="evaluate", unit="chip", disable=not show_progress, file=sys.stderr
  ):
    chip = read_chip(
      record.s1_path, record.label_path, model.config.data.band_domain, record.source
    )
    if not chip.validity.any():
      reason = "image all NaN" if not np.isfinite(chip.vv_vh_db).any() else "no valid label pixel"
      skipped.append({"chip_id": record.chip_id, "source": record.source, "reason": reason})
      continue
    probability = model.predict_array(chip.vv_vh_db)
    # Chips are at the dataset's resolution, the one the model was trained at.
    pixel_area = model.pixel_size_m**2
    water = model.water(probability, pixel_area, chip.vv_vh_db)
    yield chip_result(record, chip, probability, water)


def run_evaluators(results: Iterator[ChipResult], evaluators: list[Evaluator]) -> dict:
  """Feeds every chip to every evaluator, then gathers their named results."""
  for result in results:
    for evaluator in evaluators:
      evaluator.add(result)
  return {name: value for evaluator in evaluators for name, value in evaluator.results()}


def write_per_image(rows: list[dict], path: Path) -> None:
  with path.open("w", newline="") as file:
    writer = csv.DictWriter(file, fieldnames=list(rows[0]) if rows else ["chip_id"])
    writer.writeheader()
    writer.writerows(
      {key: (f"{value:.6g}" if isinstance(value, float) else value) for key, value in row.items()}
      for row in rows
    )


def evaluate(
  model: TrainedModel,
  split: str,
  data_root: str | Path,
  output: str | Path,
  num_panels: int | None = None,
  seed: int = 0,
  show_progress: bool = True,
  gradcam_layer: str | None = None,
) -> dict:
  """Evaluates `model` on the chips of `split` under `data_root`; returns summary.json."""
  if split not in SPLITS:
    raise UsageError(f"unknown split {split!r}; choose from {SPLITS}")
  root, output = Path(data_root), Path(output)
  records = build_catalog(root, (split,), use_weak=split == "train")
  if not records:
    raise DataError(f"{root}: no chip in the {split} split (is flood_{split}_data.csv there?)")
  output.mkdir(parents=True, exist_ok=True)
  num_panels = model.config.evaluate.num_panels if num_panels is None else num_panels
  evaluators = [
    Scores(),
    PerImage(),
    ConfusionPlots(output, split),
    Panels(output, num_panels, seed),
  ]
  if model.model is not None:  # Grad-CAM++ needs the differentiable model
    layer = gradcam_layer or layer_names(model.model)[-1]
    evaluators.append(GradCam(model, output, num_panels, seed, layer))
  skipped = []
  results = run_evaluators(chip_results(model, records, skipped, show_progress), evaluators)
  write_per_image(results["per_image"], output / "per_image.csv")
  summary = {
    "split": split,
    "data_root": str(root),
    "num_chips": len(results["per_image"]),
    "skipped": skipped,
    "threshold": model.threshold,
    **{method: results[method] for method in METHODS},
  }
  write_json(output / "summary.json", summary)
  return summary


def format_table(summary: dict) -> str:
  """A Markdown table of the official figures per method, from summed confusion matrices."""
  sources = [key for key in ("hand", "weak") if key in summary["model"]]
  columns = [
    "IoU",
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


def engine_comparison(summaries: dict[str, dict]) -> str:
  """A Markdown table of the model's figures per engine, with the IoU difference from the
  first engine (the reference, e.g. XLA float32)."""
  lines = [
    "| engine | IoU | IoU - first | omission | commission | 5%-scene IoU |",
    "|---|---|---|---|---|---|",
  ]
  first = None
  for engine, summary in summaries.items():
    overall = summary["model"]["overall"]
    first = overall["iou"] if first is None else first
    lines.append(
      f"| {engine} | {overall['iou']:.4f} | {overall['iou'] - first:+.4f} | "
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
