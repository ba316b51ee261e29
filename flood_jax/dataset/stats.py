"""Per-band normalisation statistics over valid pixels, saved beside tiles and models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from flood_jax.core.files import write_json
from flood_jax.errors import DataError
from flood_jax.scenes.bands import NUM_BANDS

CLASS_WEIGHTS_FILE = "class_weights.json"


class BandStatistics:
  """Accumulates per-band mean and std over valid pixels (float64 sums; exact to merge)."""

  def __init__(self):
    self.count = 0
    self.total = np.zeros(NUM_BANDS, np.float64)
    self.total_squares = np.zeros(NUM_BANDS, np.float64)

  def add(self, image: np.ndarray, validity: np.ndarray) -> None:
    """image: [..., 3] engineered bands; validity: bool [...]."""
    values = image[validity].astype(np.float64)
    self.count += values.shape[0]
    self.total += values.sum(0)
    self.total_squares += (values * values).sum(0)

  def result(self) -> dict[str, list[float]]:
    if self.count == 0:
      raise DataError("no valid training pixel to compute normalisation statistics from")
    mean = self.total / self.count
    variance = np.maximum(self.total_squares / self.count - mean * mean, 0.0)
    std = np.maximum(np.sqrt(variance), 1e-6)
    return {"mean": mean.tolist(), "std": std.tolist(), "num_pixels": int(self.count)}


def load_stats(path: str | Path) -> dict[str, list[float]]:
  """Reads and checks a stats.json (`mean` and `std`: three finite numbers each, std > 0)."""
  path = Path(path)
  if not path.exists():
    raise DataError(f"{path}: statistics file not found")
  try:
    stats = json.loads(path.read_text())
    mean = np.asarray(stats["mean"], np.float64)
    std = np.asarray(stats["std"], np.float64)
  except (ValueError, KeyError, TypeError) as error:
    raise DataError(f"{path}: not a stats.json with 'mean' and 'std' ({error})") from None
  if mean.shape != (NUM_BANDS,) or std.shape != (NUM_BANDS,):
    raise DataError(f"{path}: 'mean' and 'std' must hold {NUM_BANDS} numbers each")
  if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
    raise DataError(f"{path}: statistics must be finite with std > 0, got {stats}")
  return {"mean": mean.tolist(), "std": std.tolist()}


def save_stats(path: str | Path, stats: dict) -> None:
  """Writes a stats.json atomically (a killed run never leaves half of one)."""
  write_json(path, stats)


def class_weights(dry_pixels: int, water_pixels: int) -> dict:
  """Balanced class weights from the training set's valid pixels, as the notebook saves them
  (scikit-learn's "balanced": n / (2 n_class)); `water_weight` is water's relative to dry's,
  what `loss.water_weight="auto"` uses."""
  if dry_pixels <= 0 or water_pixels <= 0:
    raise DataError(
      f"class weights need both classes among the training pixels (dry {dry_pixels}, "
      f"water {water_pixels})"
    )
  total = dry_pixels + water_pixels
  dry, water = total / (2 * dry_pixels), total / (2 * water_pixels)
  return {
    "dry": dry,
    "water": water,
    "water_weight": water / dry,
    "dry_pixels": int(dry_pixels),
    "water_pixels": int(water_pixels),
  }


def load_class_weights(path: str | Path) -> dict:
  path = Path(path)
  if not path.exists():
    raise DataError(
      f"{path}: not found; loss.water_weight='auto' needs the class weights that "
      "flood_jax.preprocess writes (preprocess the data again)"
    )
  return json.loads(path.read_text())
