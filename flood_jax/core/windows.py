"""Overlapping square windows over an array: where they start and how they are blended.

One definition for cutting training tiles from chips (`dataset.tiles`) and for predicting chips and
scenes through blended windows (`mapping.inference`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from flood_jax.errors import ConfigError

COLUMN_BLOCK = 2048  # columns a band is read or computed in at once, so no temporary spans it


def column_blocks(width: int) -> Iterator[slice]:
  """Consecutive slices of at most COLUMN_BLOCK columns covering [0, width)."""
  for left in range(0, width, COLUMN_BLOCK):
    yield slice(left, min(left + COLUMN_BLOCK, width))


def window_starts(length: int, size: int, overlap: int) -> list[int]:
  """Start offsets of windows of `size` covering [0, length), `size - overlap` apart; the last
  one is flush with the end. A length shorter than one window gives [0]."""
  if length <= size:
    return [0]
  stride = size - overlap
  starts = list(range(0, length - size + 1, stride))
  if starts[-1] != length - size:
    starts.append(length - size)
  return starts


def blend_profile(tile_size: int, overlap: int) -> np.ndarray:
  """float32 [T]: 1 in the centre, a raised-cosine ramp over `overlap` pixels to each edge."""
  position = np.arange(tile_size, dtype=np.float64) + 0.5
  distance = np.minimum(position, tile_size - position)
  if overlap > 0:
    ramp = np.clip(distance / overlap, 0.0, 1.0)
    profile = np.sin(ramp * np.pi / 2) ** 2
  else:
    profile = np.ones(tile_size)
  return np.maximum(profile, 1e-3).astype(np.float32)  # scene borders are covered by one window


def blend_weights(tile_size: int, overlap: int) -> np.ndarray:
  """float32 [T, T]: the outer product of `blend_profile` with itself.

  Overlapping windows are averaged with these weights, so each window's border (where a
  convolutional network sees padding instead of context) counts little and no seam appears.
  """
  profile = blend_profile(tile_size, overlap)
  return np.outer(profile, profile)


def coverage(length: int, tile_size: int, overlap: int) -> np.ndarray:
  """float32 [max(length, T)]: the sum of the profiles of the windows over each position.

  Windows form a grid, so the weights summed at pixel (r, c) are coverage(H)[r] *
  coverage(W)[c]: blending needs no [H, W] array of weight sums.
  """
  profile = blend_profile(tile_size, overlap)
  total = np.zeros(max(length, tile_size), np.float32)
  for start in window_starts(length, tile_size, overlap):
    total[start : start + tile_size] += profile
  return total


def check_tiling(tile_size: int, overlap: int, batch_size: int) -> None:
  """Scene prediction windows (config.predict or predict's flags)."""
  if tile_size <= 0 or batch_size <= 0:
    raise ConfigError(
      f"predict.tile_size={tile_size} and predict.batch_size={batch_size} must be > 0"
    )
  if not 0 <= overlap < tile_size:
    raise ConfigError(f"predict.overlap={overlap} must be in [0, tile size {tile_size})")
