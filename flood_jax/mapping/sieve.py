"""Minimum mapping unit: water patches smaller than an area become dry.

What the unit means where flood water touches permanent water (`flood_jax.mapping.map_rules`): it applies
first to water bodies (flood and permanent water together), so a body under the unit is dry; then
to each class inside a kept body, so a fragment of permanent water under the unit is flood water
(a reference pixel inside a flood) and then a fragment of flood water under the unit is permanent
water (the rim of a lake drawn at the reference layer's coarser pixels). Every patch of every
water class in a finished map therefore has at least the unit's pixels, and the polygons are
exactly the map's patches.

Patches are the 8-connected components of the class (`scipy.ndimage.label`), counted exactly.
GDAL's sieve filter is not used: it merges each small polygon into its largest neighbour, dry
polygons included, so a water speck inside a small dry hole of a large lake follows the hole into
the lake and is kept, a 1-px patch once the hole stays dry. Scenes arrive as bands of rows, so `StreamingSieve` sieves them as they come and gives the same map as
sieving the whole scene at once: a patch of fewer than P pixels spans fewer than P rows, so a
row is final once P rows below it have arrived, and sieving it inside a window with P rows of
context on each side sees every small patch whole, while any larger patch reaches at least P
pixels inside the window. Columns are sieved in blocks with the same context, for the same reason.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from flood_jax.mapping.classes import DRY, PERMANENT_WATER, WATER

COLUMN_BLOCK = 2048  # columns sieved at once (plus the context on each side)
EIGHT_CONNECTED = np.ones((3, 3), bool)


def small_patches(mask: np.ndarray, min_pixels: int) -> np.ndarray:
  """bool [H, W]: the pixels of `mask` whose 8-connected patch has fewer than `min_pixels`."""
  labels, _ = ndimage.label(mask, structure=EIGHT_CONNECTED)
  small = np.bincount(labels.ravel()) < min_pixels
  small[0] = False  # the background
  return small[labels]


def sieve_water(
  classes: np.ndarray,
  min_pixels: int,
  value: int | tuple[int, ...] = WATER,
  replacement: int = DRY,
) -> np.ndarray:
  """uint8 classes with the patches of `value` (water; a tuple: those classes together, as one
  water body) of fewer than `min_pixels` pixels set to `replacement` (dry).

  Only that class is removed: small dry holes are kept, and no-data (255) and other classes stay
  as they are. Columns are sieved in blocks with `min_pixels` columns of context on each side
  (exact, as rows are in `StreamingSieve`), so the temporaries do not grow with the scene's width.
  """
  values = np.atleast_1d(np.asarray(value, np.uint8))
  if min_pixels <= 1 or not np.isin(classes, values).any():
    return classes
  sieved = classes.copy()
  width = classes.shape[1]
  for left in range(0, width, COLUMN_BLOCK):
    lo, hi = max(left - min_pixels, 0), min(left + COLUMN_BLOCK + min_pixels, width)
    removed = small_patches(np.isin(classes[:, lo:hi], values), min_pixels)
    right = min(left + COLUMN_BLOCK, width)
    sieved[:, left:right][removed[:, left - lo : right - lo]] = replacement
  return sieved


WATER_BODY = (WATER, PERMANENT_WATER)  # the classes a water body is made of


def split_water_bodies(classes: np.ndarray, min_pixels: int) -> np.ndarray:
  """The unit inside water bodies already sieved as a whole (`sieve_water(classes, min_pixels,
  WATER_BODY)`, see the module doc): fragments of
  permanent water under `min_pixels` become flood water, then fragments of flood water under it
  become permanent water. Each fragment touches the other class (its body is larger), so no
  fragment under the unit is left, and no water pixel becomes dry."""
  classes = sieve_water(classes, min_pixels, PERMANENT_WATER, WATER)
  return sieve_water(classes, min_pixels, WATER, PERMANENT_WATER)


def min_pixels(min_area_m2: float, pixel_area_m2: float) -> int:
  """Pixels of the smallest patch kept (0 or 1: no sieve)."""
  if min_area_m2 <= 0:
    return 0
  return math.ceil(min_area_m2 / pixel_area_m2)


class StreamingSieve:
  """Sieves a map band by band, exactly as `sieve_water` on the whole map (see module doc).

  push(top, rows) takes consecutive bands of uint8 classes; it and finish() return the bands
  (top, rows) that are final. Memory is the band plus 2 P rows of the scene's width. `sieve`
  is `sieve_water` by default, or any function of (classes, min_pixels) whose change to a pixel
  depends only on patches of fewer than P pixels around it (`split_water_bodies`).
  """

  def __init__(self, min_pixels: int, sieve=sieve_water):
    self.margin = max(int(min_pixels), 0)
    self.min_pixels, self.sieve = min_pixels, sieve
    self.buffer = None  # rows [self.top, self.top + len(buffer)), context included
    self.top = 0
    self.final = 0  # first row not yet returned

  def push(self, top: int, rows: np.ndarray) -> list[tuple[int, np.ndarray]]:
    if self.margin <= 1:
      return [(top, rows)]
    if self.buffer is None:
      self.buffer, self.top, self.final = rows, top, top
    else:
      self.buffer = np.concatenate([self.buffer, rows])
    return self._release(self.top + len(self.buffer) - self.margin)

  def finish(self) -> list[tuple[int, np.ndarray]]:
    if self.margin <= 1 or self.buffer is None:
      return []
    return self._release(self.top + len(self.buffer))

  def _release(self, until: int) -> list[tuple[int, np.ndarray]]:
    """Rows [final, until), sieved with all the context the buffer holds, then the buffer
    trimmed to `margin` rows above the next row to release."""
    if until <= self.final:
      return []
    sieved = self.sieve(self.buffer, self.min_pixels)
    released = (self.final, sieved[self.final - self.top : until - self.top])
    self.final = until
    keep_from = max(until - self.margin, self.top)
    self.buffer = self.buffer[keep_from - self.top :]
    self.top = keep_from
    return [released]
