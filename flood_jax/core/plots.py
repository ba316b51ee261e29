"""Figures people would rather look at than read: training history, panels, confusion matrices."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _column(rows: list[dict], name: str) -> np.ndarray:
  return np.array(
    [float(row[name]) if row.get(name) not in (None, "", "nan") else np.nan for row in rows]
  )


def plot_history(metrics_csv: str | Path, output: str | Path) -> None:
  """Loss, validation IoU and learning rate against step, from metrics.csv."""
  with Path(metrics_csv).open() as file:
    rows = list(csv.DictReader(file))
  if not rows:
    return
  step = _column(rows, "step")
  figure, axes = plt.subplots(1, 3, figsize=(13, 3.6))
  axes[0].plot(step, _column(rows, "train_loss"), "o-", label="train")
  axes[0].plot(step, _column(rows, "valid_loss"), "o-", label="valid")
  axes[0].set_title("loss")
  axes[0].legend()
  axes[1].plot(step, _column(rows, "valid_iou"), "o-", label="water IoU")
  axes[1].plot(step, _column(rows, "valid_mean_iou"), "o-", label="mean IoU")
  axes[1].set_title("validation IoU")
  axes[1].set_ylim(0, 1)
  axes[1].legend()
  axes[2].plot(step, _column(rows, "learning_rate"), "o-")
  axes[2].set_title("learning rate")
  axes[2].set_yscale("log")
  for axis in axes:
    axis.set_xlabel("step")
    axis.grid(alpha=0.3)
  figure.tight_layout()
  Path(output).parent.mkdir(parents=True, exist_ok=True)
  figure.savefig(output, dpi=100)
  plt.close(figure)


def sar_composite(vv_vh_db: np.ndarray) -> np.ndarray:
  """[H, W, 3] in [0, 1]: R = VV, G = VH, B = VV - VH, each stretched over typical dB ranges."""
  vv, vh = vv_vh_db[..., 0], vv_vh_db[..., 1]
  red = (vv + 25) / 25
  green = (vh + 32) / 25
  blue = (vv - vh) / 15
  composite = np.stack([red, green, blue], -1)
  return np.clip(np.nan_to_num(composite, nan=0.0), 0, 1)


def mask_image(mask: np.ndarray, validity: np.ndarray | None = None) -> np.ndarray:
  """[H, W, 3]: water blue, dry light grey, invalid red."""
  image = np.where(mask[..., None] > 0, [0.1, 0.3, 0.9], [0.85, 0.85, 0.85])
  if validity is not None:
    image = np.where(validity[..., None], image, [0.85, 0.1, 0.1])
  return image


def sample_panel(batch: dict, logits: np.ndarray, count: int) -> np.ndarray:
  """[N, T, 3T, 3] for TensorBoard: band 1 (VV) grey | truth (invalid red) | prediction."""
  panels = []
  for row in range(min(count, len(logits))):
    validity = batch["validity"][row, ..., 0]
    vv = np.clip((batch["image"][row, ..., 0] + 2.5) / 5, 0, 1)
    grey = np.repeat(vv[..., None], 3, -1)
    truth = mask_image(batch["label"][row, ..., 0], validity)
    predicted = mask_image(logits[row, ..., 0] > 0)
    panels.append(np.concatenate([grey, truth, predicted], axis=1))
  return np.stack(panels) if panels else np.zeros((0, 1, 1, 3))


def plot_confusion(counts: np.ndarray, title: str, output: str | Path) -> None:
  counts = np.asarray(counts, np.int64)
  figure, axis = plt.subplots(figsize=(3.8, 3.4))
  fractions = counts / max(counts.sum(), 1)
  axis.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
  for row in range(2):
    for col in range(2):
      axis.text(
        col,
        row,
        f"{counts[row, col]:,}\n{fractions[row, col]:.1%}",
        ha="center",
        va="center",
        color="white" if fractions[row, col] > 0.5 else "black",
      )
  axis.set_xticks([0, 1], ["dry", "water"])
  axis.set_yticks([0, 1], ["dry", "water"])
  axis.set_xlabel("predicted")
  axis.set_ylabel("truth")
  axis.set_title(title)
  figure.tight_layout()
  figure.savefig(output, dpi=100)
  plt.close(figure)


def _figure_row(
  images: list[tuple[np.ndarray, str]], title: str, output: Path, width: float, frame: bool
) -> None:
  """A row of images with titles, saved to `output` (its folder created)."""
  figure, axes = plt.subplots(1, len(images), figsize=(width * len(images), 3.6))
  for axis, (image, caption) in zip(axes, images, strict=True):
    axis.imshow(image, cmap="jet" if image.ndim == 2 else None, vmin=0, vmax=1)
    axis.set_title(caption, fontsize=9)
    axis.set_xticks([])  # the frame stays where asked: an all-valid mask is a white square
    axis.set_yticks([])
    axis.set_frame_on(frame)
  figure.suptitle(title, fontsize=10)
  figure.tight_layout()
  Path(output).parent.mkdir(parents=True, exist_ok=True)
  figure.savefig(output, dpi=80)
  plt.close(figure)


def panel_figure(
  chip_id: str,
  vv_vh_db: np.ndarray,
  label: np.ndarray,
  validity: np.ndarray,
  predicted: np.ndarray,
  metrics: dict,
  output: Path,
) -> None:
  """SAR composite | truth (invalid red) | validity | prediction | prediction on valid pixels."""
  images = [
    (sar_composite(vv_vh_db), "SAR (R=VV G=VH B=VV-VH)"),
    (mask_image(label, validity), "truth (red: invalid)"),
    (np.repeat(validity[..., None].astype(float), 3, -1), "validity"),
    (mask_image(predicted), "prediction"),
    (mask_image(predicted, validity), "prediction on valid pixels"),
  ]
  title = (
    f"{chip_id}: IoU {metrics['iou']:.3f}  F1 {metrics['f1']:.3f}  "
    f"accuracy {metrics['accuracy']:.3f}"
  )
  _figure_row(images, title, output, 3.2, frame=True)


def gradcam_figure(
  chip_id: str,
  vv_vh_db: np.ndarray,
  label: np.ndarray,
  validity: np.ndarray,
  predicted: np.ndarray,
  heat: np.ndarray,
  layer: str,
  output: Path,
) -> None:
  """Composite | truth | prediction | overlay | heat map, as the notebook's figure."""
  composite = sar_composite(vv_vh_db)
  # Clipped: float rounding takes the blend a hair above 1, and imshow warns on every figure.
  overlay = np.clip(0.55 * composite + 0.45 * plt.cm.jet(heat)[..., :3], 0.0, 1.0)
  images = [
    (composite, "SAR composite"),
    (mask_image(label, validity), "truth"),
    (mask_image(predicted), "prediction"),
    (overlay, "Grad-CAM++ overlay"),
    (heat, f"Grad-CAM++ ({layer})"),
  ]
  title = f"{chip_id}: target = water logits over the predicted water"
  _figure_row(images, title, output, 3.2, frame=False)


def plot_area_over_time(rows: list[dict], output) -> None:
  """Flooded area (km²) of each acquisition against its time, the observed area beside it and,
  where the maps counted them, the people in flood water on a second axis; `rows` as a flood's
  course writes area.csv. `output`: a path or a binary file (PNG)."""
  import datetime as dt

  times = [dt.datetime.fromisoformat(row["acquired"]) for row in rows]
  figure, axes = plt.subplots(figsize=(9, 4))
  axes.plot(times, _column(rows, "flood_km2"), "o-", color="#1e5adc", lw=2, label="flood water")
  axes.set_ylabel("flood water (km²)")
  axes.set_ylim(bottom=0)
  axes.grid(alpha=0.3)
  people = _column(rows, "people_in_flood_water")
  if np.isfinite(people).any():
    twin = axes.twinx()
    twin.plot(times, people, "s--", color="#c0392b", label="people in flood water")
    twin.set_ylabel("people in flood water")
    twin.set_ylim(bottom=0)
    twin.legend(loc="lower left")
  axes.legend(loc="best")
  axes.set_title(f"Flood water over {len(rows)} acquisitions")
  figure.autofmt_xdate()
  figure.tight_layout()
  figure.savefig(output, dpi=100, format="png")
  plt.close(figure)
