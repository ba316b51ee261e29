"""Figures of a training run: the history of its metrics.csv, and the sample panels of its
validation predictions for TensorBoard."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from flood_jax.core.figures import column, mask_image, plt, save_figure


def plot_history(metrics_csv: str | Path, output: str | Path) -> None:
  """Loss, validation IoU and learning rate against step, from metrics.csv."""
  with Path(metrics_csv).open() as file:
    rows = list(csv.DictReader(file))
  if not rows:
    return
  step = column(rows, "step")
  figure, axes = plt.subplots(1, 3, figsize=(13, 3.6))
  axes[0].plot(step, column(rows, "train_loss"), "o-", label="train")
  axes[0].plot(step, column(rows, "valid_loss"), "o-", label="valid")
  axes[0].set_title("loss")
  axes[0].legend()
  axes[1].plot(step, column(rows, "valid_iou"), "o-", label="water IoU")
  axes[1].plot(step, column(rows, "valid_mean_iou"), "o-", label="mean IoU")
  axes[1].set_title("validation IoU")
  axes[1].set_ylim(0, 1)
  axes[1].legend()
  axes[2].plot(step, column(rows, "learning_rate"), "o-")
  axes[2].set_title("learning rate")
  axes[2].set_yscale("log")
  for axis in axes:
    axis.set_xlabel("step")
    axis.grid(alpha=0.3)
  figure.tight_layout()
  Path(output).parent.mkdir(parents=True, exist_ok=True)
  save_figure(figure, output, dpi=100)


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
