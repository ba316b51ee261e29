"""Evaluation reports of a trained model on whole chips, beside classical baselines.

    python -m flood_jax.evaluate --workdir=W --split=test [--data_root=ROOT]
    python -m flood_jax.evaluate --model=MODEL_DIR --data_root=ROOT --engines=xla,onnxruntime:int8

Writes W/eval/<split>/ (or --output):
  per_image.csv   one row per chip: id, source, valid pixels, TP/FP/FN/TN and scores
  summary.json    the official Sen1Floods11 figures from summed confusion matrices (water IoU,
                  omission, commission, and the mean of per-chip IoUs), overall and per source
                  (hand/weak), for the model, Otsu thresholding of VV per chip and a fixed -15 dB
                  VV threshold, plus the chips skipped for having no valid pixel
  confusion_<method>.png, panels/<chip>.png (seeded sample per source) and
  gradcam/<chip>.png (Grad-CAM++ of the model on the same chips)

Chips are predicted whole through the same blended tiling as `flood_jax.predict`; the scoring,
tables and figures are the evaluators of `flood_jax.evaluators`.
"""

from __future__ import annotations

import csv
import itertools
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from absl import flags
from tqdm import tqdm

from flood_jax import cli
from flood_jax.data.catalog import SPLITS, build_catalog
from flood_jax.data.geotiff import read_chip
from flood_jax.errors import DataError, UsageError
from flood_jax.evaluators import (
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
from flood_jax.gradcam import layer_names
from flood_jax.inference import ENGINES, PRECISIONS, TrainedModel, training_data_root
from flood_jax.logs import write_json


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
    pixel_area = model.config.data.get("pixel_size_m", 10.0) ** 2
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


FLAGS = flags.FLAGS


def define_flags() -> None:
  TrainedModel.define_flags()
  flags.DEFINE_enum("split", "test", list(SPLITS), "Split to evaluate.")
  flags.DEFINE_string(
    "data_root", None, "Dataset root (default: the run's config, or its synthetic data)."
  )
  flags.DEFINE_string("output", None, "Report folder (default: <workdir>/eval/<split>).")
  flags.DEFINE_integer(
    "num_panels", None, "Sample panels per source (default: config.evaluate.num_panels)."
  )
  flags.DEFINE_integer("seed", 0, "Seed of the choice of sample chips.")
  flags.DEFINE_list(
    "engines",
    None,
    "Evaluate the model on each of these, e.g. xla,onnxruntime:int8: a report per engine "
    "in <output>/<engine>_<precision>, and their figures side by side.",
  )
  flags.DEFINE_string(
    "gradcam_layer",
    None,
    "Block for Grad-CAM++: encoder_<i>, bottleneck or decoder_<i> (default: last decoder).",
  )


def compare_engines(models: Iterable[TrainedModel], data_root: str | Path, output: Path) -> None:
  """--engines: the model evaluated on each engine, a report each, the figures side by side."""
  summaries = {}
  for model in models:
    name = f"{model.engine.name} {model.engine.precision}"
    print(f"model: {model.describe()}")
    folder = output / name.replace(" ", "_")
    summaries[name] = evaluate(
      model,
      FLAGS.split,
      data_root,
      folder,
      FLAGS.num_panels,
      FLAGS.seed,
      gradcam_layer=FLAGS.gradcam_layer,
    )
  write_json(output / "engines.json", summaries)
  print(engine_comparison(summaries))


def main() -> None:
  from flood_jax.logs import quiet_library_logs

  quiet_library_logs()
  specs = engine_specs(FLAGS.engines or []) or [(None, None)]  # a typo stops before any load
  # One engine's model at a time; the first also gives the config (a workdir's data root).
  models = (
    TrainedModel.from_flags(engine=engine, precision=precision) for engine, precision in specs
  )
  model = next(models)
  if not FLAGS.data_root and not FLAGS.workdir:
    raise UsageError("--data_root is required with a model folder (a workdir knows its data)")
  data_root = FLAGS.data_root or training_data_root(Path(FLAGS.workdir), model.config)
  output = FLAGS.output or (Path(FLAGS.workdir or ".") / "eval" / FLAGS.split)
  if FLAGS.engines:
    compare_engines(itertools.chain([model], models), data_root, Path(output))
    return
  print(f"model: {model.describe()}")
  summary = evaluate(
    model,
    FLAGS.split,
    data_root,
    output,
    FLAGS.num_panels,
    FLAGS.seed,
    gradcam_layer=FLAGS.gradcam_layer,
  )
  print(format_table(summary))
  print(json.dumps({"num_chips": summary["num_chips"], "skipped": summary["skipped"]}))


if __name__ == "__main__":
  cli.run(define_flags, main)
