"""Evaluation reports of a trained workdir on whole chips, beside classical baselines.

    python -m flood_jax.evaluate --workdir=W --split=test [--data_root=ROOT]

Writes W/eval/<split>/ (or --output):
  per_image.csv   one row per chip: id, source, valid pixels, TP/FP/FN/TN and scores
  summary.json    scores from summed confusion matrices: overall and per source (hand/weak),
                  for the model, Otsu thresholding of VV per chip and a fixed -15 dB VV threshold,
                  plus the chips skipped for having no valid pixel
  confusion_<method>.png, panels/<chip>.png (seeded sample per source) and
  gradcam/<chip>.png (Grad-CAM++ of the model on the same chips)

Chips are predicted whole through the same blended tiling as `flood_jax.predict`.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402
from tqdm import tqdm  # noqa: E402

from flood_jax import baselines, plots  # noqa: E402
from flood_jax.data.catalog import SPLITS, build_catalog  # noqa: E402
from flood_jax.data.geotiff import read_chip  # noqa: E402
from flood_jax.errors import DataError, parse_flags, run_cli  # noqa: E402
from flood_jax.gradcam import gradcam_plus_plus, layer_names  # noqa: E402
from flood_jax.inference import TrainedModel  # noqa: E402
from flood_jax.logs import write_json  # noqa: E402
from flood_jax.metrics import scores  # noqa: E402

METHODS = ("model", "otsu_vv", "fixed_vv_-15db")


def default_data_root(workdir: Path, config) -> Path:
  """The root the run's tiles were cut from (its manifest), else config.data.root."""
  manifest = Path(config.data.preprocessed or workdir / "tiles") / "manifest.json"
  if manifest.exists():
    return Path(json.loads(manifest.read_text())["root"])
  if config.data.root:
    return Path(config.data.root)
  raise DataError(f"{workdir}: cannot tell which data the run used; pass --data_root")


def _summaries(rows: list[dict], counts: dict) -> dict:
  summary = {}
  for method in METHODS:
    per_source = {source: scores(matrix) for source, matrix in counts[method].items()}
    overall = sum(counts[method].values(), np.zeros((2, 2), np.int64))
    summary[method] = {"overall": scores(overall), **per_source, "confusion": overall.tolist()}
  return summary


def panel_figure(
  chip_id: str,
  vv_vh_db,
  label,
  validity,
  probability,
  metrics: dict,
  threshold: float,
  output: Path,
) -> None:
  """SAR composite | truth (invalid red) | validity | prediction | prediction on valid pixels."""
  predicted = np.nan_to_num(probability, nan=0.0) > threshold
  images = [
    (plots.sar_composite(vv_vh_db), "SAR (R=VV G=VH B=VV-VH)"),
    (plots.mask_image(label, validity), "truth (red: invalid)"),
    (np.repeat(validity[..., None].astype(float), 3, -1), "validity"),
    (plots.mask_image(predicted), "prediction"),
    (plots.mask_image(predicted, validity), "prediction on valid pixels"),
  ]
  figure, axes = plt.subplots(1, len(images), figsize=(3.2 * len(images), 3.6))
  for axis, (image, title) in zip(axes, images, strict=True):
    axis.imshow(image, vmin=0, vmax=1)
    axis.set_title(title, fontsize=9)
    axis.set_xticks([])  # keep the frame: an all-valid mask is a white square
    axis.set_yticks([])
  figure.suptitle(
    f"{chip_id}: IoU {metrics['iou']:.3f}  F1 {metrics['f1']:.3f}  accuracy {metrics['accuracy']:.3f}",
    fontsize=10,
  )
  figure.tight_layout()
  output.parent.mkdir(parents=True, exist_ok=True)
  figure.savefig(output, dpi=80)
  plt.close(figure)


def gradcam_figure(
  model: TrainedModel,
  chip_id: str,
  vv_vh_db,
  label,
  validity,
  probability,
  layer: str,
  output: Path,
) -> np.ndarray:
  """Composite | truth | prediction | overlay | heat map, as the notebook's figure."""
  image, _ = model.normalised_input(vv_vh_db)
  size = model.config.predict.tile_size
  levels = 2 ** (len(model.config.model.filters) - 1)
  height, width = (image.shape[0] // levels) * levels, (image.shape[1] // levels) * levels
  crop = np.s_[: min(height, 4 * size), : min(width, 4 * size)]
  region = np.nan_to_num(probability[crop], nan=0.0) > model.config.threshold
  heat = gradcam_plus_plus(
    model.model, model.variables, image[crop], layer, region if region.any() else None
  )
  composite = plots.sar_composite(vv_vh_db[crop])
  # Clipped: float rounding takes the blend a hair above 1, and imshow warns on every figure.
  overlay = np.clip(0.55 * composite + 0.45 * plt.cm.jet(heat)[..., :3], 0.0, 1.0)
  panels = [
    (composite, "SAR composite"),
    (plots.mask_image(label[crop], validity[crop]), "truth"),
    (plots.mask_image(region), "prediction"),
    (overlay, "Grad-CAM++ overlay"),
    (heat, f"Grad-CAM++ ({layer})"),
  ]
  figure, axes = plt.subplots(1, 5, figsize=(16, 3.6))
  for axis, (panel, title) in zip(axes, panels, strict=True):
    axis.imshow(panel, cmap="jet" if panel.ndim == 2 else None, vmin=0, vmax=1)
    axis.set_title(title, fontsize=9)
    axis.axis("off")
  figure.suptitle(f"{chip_id}: target = water logits over the predicted water", fontsize=10)
  figure.tight_layout()
  output.parent.mkdir(parents=True, exist_ok=True)
  figure.savefig(output, dpi=80)
  plt.close(figure)
  return heat


def evaluate(workdir: str | Path, split: str, data_root: str | Path | None = None, output: str | Path | None = None,
             num_panels: int | None = None, seed: int = 0, show_progress: bool = True, model: TrainedModel | None = None,
             gradcam_layer: str | None = None) -> dict:  # fmt: skip
  """Evaluates the best model of `workdir` on the chips of `split`; returns summary.json."""
  workdir = Path(workdir)
  if split not in SPLITS:
    raise DataError(f"unknown split {split!r}; choose from {SPLITS}")
  model = model or TrainedModel.load(workdir)
  config = model.config
  root = Path(data_root) if data_root else default_data_root(workdir, config)
  output = Path(output) if output else workdir / "eval" / split
  records = build_catalog(root, (split,), use_weak=split == "train")
  if not records:
    raise DataError(f"{root}: no chip in the {split} split (is flood_{split}_data.csv there?)")
  output.mkdir(parents=True, exist_ok=True)
  counts = {method: {} for method in METHODS}
  rows, skipped, evaluated = [], [], []
  for record in tqdm(
    records, desc=f"evaluate {split}", unit="chip", disable=not show_progress, file=sys.stderr
  ):
    chip = read_chip(record.s1_path, record.label_path, config.data.band_domain, record.source)
    if not chip.validity.any():
      reason = "image all NaN" if not np.isfinite(chip.vv_vh_db).any() else "no valid label pixel"
      skipped.append({"chip_id": record.chip_id, "source": record.source, "reason": reason})
      continue
    probability = model.predict_array(chip.vv_vh_db)
    vv = chip.vv_vh_db[..., 0]
    predictions = {
      "model": np.nan_to_num(probability, nan=0.0) > config.threshold,
      "otsu_vv": baselines.otsu_water(vv, chip.validity),
      "fixed_vv_-15db": baselines.fixed_threshold_water(vv, chip.validity),
    }
    for method, predicted in predictions.items():
      matrix = baselines.confusion(chip.label, predicted, chip.validity)
      counts[method][record.source] = (
        counts[method].get(record.source, np.zeros((2, 2), np.int64)) + matrix
      )
      if method == "model":
        chip_scores = scores(matrix)
        (true_negative, false_positive), (false_negative, true_positive) = matrix
        rows.append({"chip_id": record.chip_id, "source": record.source, "valid_pixels": int(matrix.sum()),
                     "tp": int(true_positive), "fp": int(false_positive), "fn": int(false_negative), "tn": int(true_negative),
                     **{name: chip_scores[name] for name in ("iou", "dice", "precision", "recall", "f1", "accuracy")},
                     "otsu_iou": scores(baselines.confusion(chip.label, predictions["otsu_vv"], chip.validity))["iou"]})  # fmt: skip
    evaluated.append((record, chip, probability, rows[-1]))
  with (output / "per_image.csv").open("w", newline="") as file:
    fields = [
      "chip_id",
      "source",
      "valid_pixels",
      "tp",
      "fp",
      "fn",
      "tn",
      "iou",
      "dice",
      "precision",
      "recall",
      "f1",
      "accuracy",
      "otsu_iou",
    ]
    writer = csv.DictWriter(file, fieldnames=fields)
    writer.writeheader()
    writer.writerows(
      {key: (f"{value:.6g}" if isinstance(value, float) else value) for key, value in row.items()}
      for row in rows
    )
  summary = {
    "split": split,
    "data_root": str(root),
    "num_chips": len(evaluated),
    "skipped": skipped,
    **_summaries(rows, counts),
  }
  write_json(output / "summary.json", summary)
  for method in METHODS:
    plots.plot_confusion(
      np.array(summary[method]["confusion"]),
      f"{method} ({split})",
      output / f"confusion_{method}.png",
    )

  num_panels = config.evaluate.num_panels if num_panels is None else num_panels
  rng = np.random.default_rng(seed)
  for source in ("hand", "weak"):
    candidates = [item for item in evaluated if item[0].source == source]
    for index in (
      sorted(rng.choice(len(candidates), min(num_panels, len(candidates)), replace=False))
      if candidates
      else []
    ):
      record, chip, probability, row = candidates[index]
      panel_figure(record.chip_id, chip.vv_vh_db, chip.label, chip.validity, probability, row, config.threshold,
                   output / "panels" / f"{record.chip_id}.png")  # fmt: skip
      gradcam_figure(model, record.chip_id, chip.vv_vh_db, chip.label, chip.validity, probability, gradcam_layer or layer_names(model.model)[-1],
                     output / "gradcam" / f"{record.chip_id}.png")  # fmt: skip
  return summary


def format_table(summary: dict) -> str:
  """A Markdown table of water IoU (summed confusion matrices) per method and source."""
  sources = [key for key in ("overall", "hand", "weak") if key in summary["model"]]
  lines = [
    "| method | " + " | ".join(f"IoU {source}" for source in sources) + " | precision | recall |",
    "|---" * (len(sources) + 3) + "|",
  ]
  for method in METHODS:
    overall = summary[method]["overall"]
    cells = [f"{summary[method][source]['iou']:.3f}" for source in sources]
    lines.append(
      f"| {method} | "
      + " | ".join(cells)
      + f" | {overall['precision']:.3f} | {overall['recall']:.3f} |"
    )
  return "\n".join(lines)


FLAGS = flags.FLAGS


def define_flags() -> None:
  flags.DEFINE_string("workdir", None, "Training workdir holding the best checkpoint.")
  flags.DEFINE_enum("split", "test", list(SPLITS), "Split to evaluate.")
  flags.DEFINE_string(
    "data_root", None, "Dataset root (default: the run's config, or its synthetic data)."
  )
  flags.DEFINE_string("output", None, "Report folder (default: <workdir>/eval/<split>).")
  flags.DEFINE_integer(
    "num_panels", None, "Sample panels per source (default: config.evaluate.num_panels)."
  )
  flags.DEFINE_integer("seed", 0, "Seed of the choice of sample chips.")
  flags.DEFINE_string(
    "gradcam_layer",
    None,
    "Block for Grad-CAM++: encoder_<i>, bottleneck or decoder_<i> (default: last decoder).",
  )
  flags.DEFINE_bool("verbose", False, "Show tracebacks for user errors.")


@run_cli
def main(argv) -> None:
  del argv
  if not FLAGS.workdir:
    raise DataError("--workdir is required")
  from flood_jax.logs import quiet_library_logs

  quiet_library_logs()
  summary = evaluate(
    FLAGS.workdir,
    FLAGS.split,
    FLAGS.data_root,
    FLAGS.output,
    FLAGS.num_panels,
    FLAGS.seed,
    gradcam_layer=FLAGS.gradcam_layer,
  )
  print(format_table(summary))
  print(json.dumps({"num_chips": summary["num_chips"], "skipped": summary["skipped"]}))


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=parse_flags)
