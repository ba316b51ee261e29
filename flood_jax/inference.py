"""A trained model ready for inference, and the blended tiling that maps arrays of any size.

`TrainedModel.load(workdir)` restores the best checkpoint with the config and normalisation
statistics saved beside it. `blend_weights` and `window_starts` define the overlapping tiling
shared by chip evaluation and whole-scene prediction, so both produce the same map.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from flood_jax import checkpoints as checkpoints_lib
from flood_jax.data.pipeline import prepare
from flood_jax.data.stats import load_stats
from flood_jax.errors import FloodJaxError
from flood_jax.models import model_from_config


def window_starts(length: int, tile_size: int, overlap: int) -> list[int]:
  """Start offsets of windows covering [0, length); the last one is flush with the end."""
  if length <= tile_size:
    return [0]
  stride = tile_size - overlap
  starts = list(range(0, length - tile_size + 1, stride))
  if starts[-1] != length - tile_size:
    starts.append(length - tile_size)
  return starts


def blend_weights(tile_size: int, overlap: int) -> np.ndarray:
  """float32 [T, T]: 1 in the centre, a raised-cosine ramp over `overlap` pixels to each edge.

  Overlapping windows are averaged with these weights, so each window's border (where a
  convolutional network sees padding instead of context) counts little and no seam appears.
  """
  position = np.arange(tile_size, dtype=np.float64) + 0.5
  distance = np.minimum(position, tile_size - position)
  if overlap > 0:
    ramp = np.clip(distance / overlap, 0.0, 1.0)
    profile = np.sin(ramp * np.pi / 2) ** 2
  else:
    profile = np.ones(tile_size)
  profile = np.maximum(profile, 1e-3)  # scene borders are covered by one window only
  return np.outer(profile, profile).astype(np.float32)


class TrainedModel:
  """The best checkpoint of a workdir: `probabilities(images)` on normalised [B, T, T, 3]."""

  def __init__(self, config: ml_collections.ConfigDict, variables: dict, stats: dict):
    self.config = config
    self.stats = stats
    self.model = model_from_config(config.model)
    self.variables = variables
    self._apply = jax.jit(
      lambda variables, images: jax.nn.sigmoid(
        self.model.apply(variables, images, train=False)[..., 0]
      )
    )

  @classmethod
  def load(cls, workdir: str | Path) -> TrainedModel:
    workdir = Path(workdir)
    config_path = workdir / "config.json"
    if not config_path.exists():
      raise FloodJaxError(
        f"{workdir}: not a training workdir (no config.json); train with flood_jax.main first"
      )
    config = ml_collections.ConfigDict(json.loads(config_path.read_text()))
    stats = load_stats(workdir / "stats.json")
    from flood_jax.train import Trainer

    trainer = Trainer(config)
    abstract_state = jax.eval_shape(trainer.initial_state)
    state, _ = checkpoints_lib.restore_best(workdir, checkpoints_lib.abstract(abstract_state))
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    return cls(config, jax.device_get(variables), stats)

  def normalised_input(self, vv_vh_db: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """([..., 3] model input, bool validity) from VV and VH in dB (NaN where missing)."""
    validity = np.isfinite(vv_vh_db).all(-1)
    element = {
      "vv_vh_db": np.where(validity[..., None], vv_vh_db, 0.0),
      "label": np.zeros(validity.shape, np.uint8),
      "validity": validity,
    }
    return prepare(element, self.stats, self.config.data.band_domain)["image"], validity

  def probabilities(self, images: np.ndarray) -> np.ndarray:
    """float32 [B, T, T] water probability of normalised images [B, T, T, 3]."""
    return np.asarray(self._apply(self.variables, jnp.asarray(images)))

  def predict_array(
    self,
    vv_vh_db: np.ndarray,
    tile_size: int | None = None,
    overlap: int | None = None,
    batch_size: int | None = None,
  ) -> np.ndarray:
    """float32 [H, W] water probability of a whole array, NaN where the input is missing.

    For chips and small scenes held in memory; `flood_jax.predict` streams large GeoTIFFs
    through the same tiling and weights.
    """
    tile_size = tile_size or self.config.predict.tile_size
    overlap = self.config.predict.overlap if overlap is None else overlap
    batch_size = batch_size or self.config.predict.batch_size
    height, width = vv_vh_db.shape[:2]
    padded_height, padded_width = max(height, tile_size), max(width, tile_size)
    padded = np.full((padded_height, padded_width, 2), np.nan, np.float32)
    padded[:height, :width] = vv_vh_db
    image, validity = self.normalised_input(padded)
    weights = blend_weights(tile_size, overlap)
    total = np.zeros((padded_height, padded_width), np.float32)
    weight_sum = np.zeros((padded_height, padded_width), np.float32)
    windows = [
      (row, col)
      for row in window_starts(padded_height, tile_size, overlap)
      for col in window_starts(padded_width, tile_size, overlap)
    ]
    for start in range(0, len(windows), batch_size):
      chunk = windows[start : start + batch_size]
      batch = np.stack([image[r : r + tile_size, c : c + tile_size] for r, c in chunk])
      if len(chunk) < batch_size:  # keep one compiled shape
        batch = np.concatenate(
          [batch, np.zeros((batch_size - len(chunk), *batch.shape[1:]), batch.dtype)]
        )
      probabilities = self.probabilities(batch)
      for (row, col), probability in zip(chunk, probabilities, strict=False):
        total[row : row + tile_size, col : col + tile_size] += probability * weights
        weight_sum[row : row + tile_size, col : col + tile_size] += weights
    probability = total / np.maximum(weight_sum, 1e-12)
    probability = np.where(validity, probability, np.nan)
    return probability[:height, :width]
