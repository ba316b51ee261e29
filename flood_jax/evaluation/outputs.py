"""An evaluation written as files: per_image.csv, summary.json, the confusion figures, and the
panels and Grad-CAM++ figures of the sampled chips. The evaluators only return values; this
is the one place that turns them into files."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from flood_jax.core.files import atomic_path, write_json
from flood_jax.evaluation import chip_figures
from flood_jax.evaluation.evaluators import METHODS, ChipResult, all_scores
from flood_jax.evaluation.gradcam import gradcam_of_chip


def write_per_image(rows: list[dict], path: Path) -> None:
  with atomic_path(path) as partial, partial.open("w", newline="") as file:
    writer = csv.DictWriter(file, fieldnames=list(rows[0]) if rows else ["chip_id"])
    writer.writeheader()
    writer.writerows(
      {key: (f"{value:.6g}" if isinstance(value, float) else value) for key, value in row.items()}
      for row in rows
    )


def confusion_figures(summary: dict, output: Path) -> list[Path]:
  """confusion_<method>.png of each method's summed matrix."""
  paths = []
  for method in METHODS:
    paths.append(output / f"confusion_{method}.png")
    counts = np.asarray(summary[method]["confusion"], np.int64)
    chip_figures.plot_confusion(counts, f"{method} ({summary['split']})", paths[-1])
  return paths


def panel_figures(samples: list[ChipResult], output: Path) -> list[Path]:
  """panels/<chip>.png: SAR, truth, validity and prediction of each sampled chip."""
  paths = []
  for result in samples:
    paths.append(output / "panels" / f"{result.record.chip_id}.png")
    chip = result.chip
    scores = all_scores(result.confusion["model"])
    model_water = result.water["model"]
    chip_figures.panel_figure(
      result.record.chip_id, chip.vv_vh_db, chip.label, chip.validity, model_water, scores,
      paths[-1],
    )  # fmt: skip
  return paths


def gradcam_figures(model, samples: list[ChipResult], output: Path, layer: str) -> list[Path]:
  """gradcam/<chip>.png: Grad-CAM++ of the model at `layer` on each sampled chip."""
  paths = []
  for result in samples:
    paths.append(output / "gradcam" / f"{result.record.chip_id}.png")
    chip = result.chip
    crop, heat, region = gradcam_of_chip(model, chip.vv_vh_db, result.water["model"], layer)
    chip_figures.gradcam_figure(
      result.record.chip_id, chip.vv_vh_db[crop], chip.label[crop], chip.validity[crop], region,
      heat, layer, paths[-1],
    )  # fmt: skip
  return paths


def write_report(
  summary: dict, results: dict, output: Path, model=None, gradcam_layer: str | None = None
) -> None:
  """Every file of an evaluation in `output`; Grad-CAM++ where `model` and a layer are given."""
  output.mkdir(parents=True, exist_ok=True)
  write_per_image(results["per_image"], output / "per_image.csv")
  confusion_figures(summary, output)
  panel_figures(results.get("samples", []), output)
  if model is not None and gradcam_layer:
    gradcam_figures(model, results.get("samples", []), output, gradcam_layer)
  write_json(output / "summary.json", summary)
