"""Prediction of arrays of any size through overlapping windows blended with smooth weights.

`blended_rows` streams a scene strip by strip: windows of `tile_size` pixels, `overlap` apart,
are predicted in batches and averaged with `windows.blend_weights`, and bands of finished rows
are yielded as soon as no later window touches them. Memory is one strip of `tile_size` rows of
the scene's width (5 bytes a pixel: the weighted sum and the validity; the weights are a
product of row and column sums) and one batch of windows, whatever the scene's height. Chip
evaluation and scene prediction share it, so both give the same map (tests/test_predict.py
checks it against a whole-array reference).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from flood_jax.core.windows import blend_weights, coverage, window_starts

Rows = tuple[int, np.ndarray, np.ndarray]  # (top, float32 probability [n, W], bool validity [n, W])


class StripBlender:
  """Weighted sums of window probabilities over rows [top, top + tile_size) of the full width;
  the sums of the weights are the outer product of `windows.coverage` of rows and columns."""

  def __init__(self, height: int, width: int, tile_size: int, overlap: int):
    self.height, self.width, self.tile_size = height, width, tile_size
    self.weights = blend_weights(tile_size, overlap)
    self.row_weights = coverage(height, tile_size, overlap)
    self.col_weights = coverage(width, tile_size, overlap)[:width]
    padded_width = max(width, tile_size)
    self.total = np.zeros((tile_size, padded_width), np.float32)
    self.validity = np.zeros((tile_size, padded_width), bool)
    self.top = 0

  def add(self, col: int, probability: np.ndarray) -> None:
    """A window's [T, T] probability at column `col` of the current strip."""
    self.total[:, col : col + self.tile_size] += probability * self.weights

  def finish(self, until: int) -> Iterator[Rows]:
    """Yields rows [top, until) as (top, probability, validity), if any, then shifts the
    accumulators. The arrays are views of the accumulators (no band-sized copies): they are
    valid until the next item is asked for."""
    count = min(until, self.height) - self.top
    if count > 0:
      probability = self.total[:count, : self.width]
      probability /= self.row_weights[self.top : self.top + count, None]
      probability /= self.col_weights
      yield self.top, probability, self.validity[:count, : self.width]
    # Windows start at most one stride apart, so the shift is below tile_size except at the end.
    shift = min(until - self.top, self.tile_size)
    for buffer in (self.total, self.validity):
      buffer[: self.tile_size - shift] = buffer[shift:].copy()
      buffer[self.tile_size - shift :] = 0
    self.top = until


def _window_batch(
  image: np.ndarray, cols: list[int], first: int, tile_size: int, batch_size: int
) -> np.ndarray:
  """[batch_size, T, T, 3] windows at `cols` of `image` (which starts at column `first`),
  padded with zeros to a full batch so that one compiled shape serves every batch."""
  batch = np.stack([image[:, col - first : col - first + tile_size] for col in cols])
  if len(cols) < batch_size:
    padding = np.zeros((batch_size - len(cols), *batch.shape[1:]), np.float32)
    batch = np.concatenate([batch, padding])
  return batch


def blended_rows(
  probabilities: Callable[[np.ndarray], np.ndarray],
  normalised_input: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
  read_window: Callable[[int, int, int, int], np.ndarray],
  height: int,
  width: int,
  tiling: tuple[int, int, int],
  on_batch: Callable[[int], None] | None = None,
) -> Iterator[Rows]:
  """Predicts a [height, width] scene through overlapping windows, one strip at a time.

  probabilities(images) maps normalised [B, T, T, 3] to float32 [B, T, T]; normalised_input
  maps VV, VH in dB to (model input, validity). read_window(top, rows, left, cols) returns
  float32 [rows, cols, 2] VV, VH in dB, NaN where missing (and beyond the scene). `tiling` is
  (tile_size, overlap, batch_size). Yields (top, probability, validity) for consecutive bands
  of finished rows, valid until the next band is asked for (copy what must outlive it).
  `on_batch(n)` is called after each batch of n windows (for progress).
  """
  tile_size, overlap, batch_size = tiling
  blender = StripBlender(height, width, tile_size, overlap)
  col_starts = window_starts(width, tile_size, overlap)
  for row in window_starts(height, tile_size, overlap):
    yield from blender.finish(row)
    for start in range(0, len(col_starts), batch_size):
      cols = col_starts[start : start + batch_size]
      # Only this batch's columns are read: arrays of the scene's width would grow with it.
      first, end = cols[0], cols[-1] + tile_size
      image, validity = normalised_input(read_window(row, tile_size, first, end - first))
      blender.validity[:, first:end] |= validity
      batch = _window_batch(image, cols, first, tile_size, batch_size)
      # A batch with no data at all is not predicted.
      predicted = probabilities(batch) if validity.any() else np.zeros(batch.shape[:3], np.float32)
      for col, probability in zip(cols, predicted, strict=False):
        blender.add(col, probability)
      if on_batch is not None:
        on_batch(len(cols))
  yield from blender.finish(height)
