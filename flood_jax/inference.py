"""A trained model ready for inference, and the blended tiling that maps arrays of any size.

`TrainedModel.load(workdir)` restores the best checkpoint with the config and normalisation
statistics saved beside it. `blend_weights` and `window_starts` define the overlapping tiling
shared by chip evaluation and whole-scene prediction, so both produce the same map.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from flood_jax import checkpoints as checkpoints_lib
from flood_jax.data.pipeline import prepare
from flood_jax.data.stats import load_stats
from flood_jax.errors import DataError, FloodJaxError
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

  def tiling(
    self, tile_size: int | None, overlap: int | None, batch_size: int | None
  ) -> tuple[int, int, int]:
    """(tile_size, overlap, batch_size) with config.predict's values where None; checked."""
    config = self.config.predict
    tile_size, batch_size = tile_size or config.tile_size, batch_size or config.batch_size
    overlap = config.overlap if overlap is None else overlap
    if not 0 <= overlap < tile_size:
      raise DataError(f"overlap {overlap} must be in [0, tile size {tile_size})")
    return tile_size, overlap, batch_size

  def predict_array(
    self,
    vv_vh_db: np.ndarray,
    tile_size: int | None = None,
    overlap: int | None = None,
    batch_size: int | None = None,
  ) -> np.ndarray:
    """float32 [H, W] water probability of a whole array, NaN where the input is missing.

    For chips and small scenes held in memory; `flood_jax.predict` streams large GeoTIFFs
    through the same `blended_rows`.
    """
    height, width = vv_vh_db.shape[:2]
    probability = np.full((height, width), np.nan, np.float32)

    def read_rows(top: int, rows: int) -> np.ndarray:
      strip = np.full((rows, width, 2), np.nan, np.float32)
      available = vv_vh_db[top : top + rows]
      strip[: len(available)] = available
      return strip

    for top, rows, valid in self.blended_rows(
      read_rows, height, width, tile_size, overlap, batch_size
    ):
      probability[top : top + len(rows)] = np.where(valid, rows, np.nan)
    return probability

  def blended_rows(
    self,
    read_rows: Callable[[int, int], np.ndarray],
    height: int,
    width: int,
    tile_size: int | None = None,
    overlap: int | None = None,
    batch_size: int | None = None,
    on_batch: Callable[[int], None] | None = None,
  ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Predicts a [height, width] scene through overlapping windows, one strip at a time.

    read_rows(top, rows) returns float32 [rows, width, 2] VV, VH in dB, NaN where missing
    (and beyond the scene). Yields (top, probability, validity) for consecutive bands of
    finished rows: float32 and bool [n, width]. Windows are `tile_size` square, overlap by
    `overlap` pixels and are averaged with `blend_weights`. Memory is one strip of
    `tile_size` rows, whatever the height. `on_batch(n)` is called after each batch of n
    windows (for a progress display).
    """
    tile_size, overlap, batch_size = self.tiling(tile_size, overlap, batch_size)
    weights = blend_weights(tile_size, overlap)
    col_starts = window_starts(width, tile_size, overlap)
    padded_width = max(width, tile_size)
    # Accumulators cover rows [top, top + tile_size) of the full width.
    total = np.zeros((tile_size, padded_width), np.float32)
    weight_sum = np.zeros((tile_size, padded_width), np.float32)
    validity_rows = np.zeros((tile_size, padded_width), bool)
    top = 0

    def finish(until: int):
      """Rows [top, until) as (top, probability, validity), then shifts the accumulators."""
      nonlocal top
      count = min(until, height) - top
      done = None
      if count > 0:
        probability = total[:count, :width] / np.maximum(weight_sum[:count, :width], 1e-12)
        done = (top, probability, validity_rows[:count, :width].copy())
      # Windows start at most one stride apart, so the shift is below tile_size except at the end.
      shift = min(until - top, tile_size)
      for buffer in (total, weight_sum, validity_rows):
        buffer[: tile_size - shift] = buffer[shift:].copy()
        buffer[tile_size - shift :] = 0
      top = until
      return done

    for row in window_starts(height, tile_size, overlap):
      if (done := finish(row)) is not None:
        yield done
      strip = read_rows(row, tile_size)
      if strip.shape[1] < padded_width:
        strip = np.concatenate(
          [strip, np.full((tile_size, padded_width - width, 2), np.nan, np.float32)], axis=1
        )
      for start in range(0, len(col_starts), batch_size):
        cols = col_starts[start : start + batch_size]
        # Normalise only this batch's columns: full-width copies would grow with the scene.
        first, end = cols[0], cols[-1] + tile_size
        image, validity = self.normalised_input(strip[:, first:end])
        validity_rows[:, first:end] |= validity
        batch = np.stack([image[:, col - first : col - first + tile_size] for col in cols])
        if len(cols) < batch_size:  # keep one compiled shape
          batch = np.concatenate(
            [batch, np.zeros((batch_size - len(cols), *batch.shape[1:]), np.float32)]
          )
        if validity.any():
          probabilities = self.probabilities(batch)
        else:  # all no data: nothing to predict
          probabilities = np.zeros(batch.shape[:3], np.float32)
        for col, probability in zip(cols, probabilities, strict=False):
          total[:, col : col + tile_size] += probability * weights
          weight_sum[:, col : col + tile_size] += weights
        if on_batch is not None:
          on_batch(len(cols))
    if (done := finish(height)) is not None:
      yield done
