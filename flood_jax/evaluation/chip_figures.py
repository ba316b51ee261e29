"""Figures of an evaluation: confusion matrices, panels of chips and Grad-CAM++ heat maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from flood_jax.core.figures import mask_image, plt, sar_composite, save_figure


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
  save_figure(figure, output, dpi=100)


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
  save_figure(figure, output, dpi=80)


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
