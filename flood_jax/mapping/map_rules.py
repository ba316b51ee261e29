"""The rules that turn a streamed water map into a finished class map, band by band.

Bands of rows arrive from the blended model (`flood_jax.mapping.blending`) in order; each rule is a
stage with `push(top, rows)` and `finish()` returning the bands it has finished, and `Rules`
chains them, so memory is a few bands whatever the scene's height. Bands arrive as the model
(and change detection, `flood_jax.mapping.change`, which may already mark permanent water) classed them.
The order, and why:
1. excluded pixels (exclusion layers: `data.layers.Exclusion`) become EXCLUDED, first, so that
   no excluded pixel is ever water and a body cut by an exclusion is judged on what remains;
2. permanent water where the reference layer says so (`PixelRule`);
3. the minimum mapping unit on water bodies, flood and permanent water together
   (`sieve.StreamingSieve` of `sieve.WATER_BODY`);
4. where the map has permanent water, the unit inside water bodies, fragment by fragment
   (`sieve.split_water_bodies`, streamed as two sieves).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from flood_jax.mapping.products import DRY, EXCLUDED, NODATA, PERMANENT_WATER, WATER
from flood_jax.mapping.sieve import WATER_BODY, StreamingSieve, sieve_water

Band = tuple[int, np.ndarray]  # (top row, uint8 classes [rows, width])


class PixelRule:
  """A stage that changes each band as it comes: `rule(top, classes) -> classes`."""

  def __init__(self, rule: Callable[[int, np.ndarray], np.ndarray]):
    self.rule = rule

  def push(self, top: int, rows: np.ndarray) -> list[Band]:
    return [(top, self.rule(top, rows))]

  def finish(self) -> list[Band]:
    return []


class Rules:
  """Stages applied in order to consecutive bands; returns the bands the last one finished."""

  def __init__(self, stages: list):
    self.stages = stages

  def push(self, top: int, rows: np.ndarray) -> list[Band]:
    bands = [(top, rows)]
    for stage in self.stages:
      bands = [out for band in bands for out in stage.push(*band)]
    return bands

  def finish(self) -> list[Band]:
    bands: list[Band] = []
    for stage in self.stages:
      bands = [out for band in bands for out in stage.push(*band)] + stage.finish()
    return bands


def permanent_water_rule(permanent: Callable[[int, int, int], np.ndarray]) -> PixelRule:
  """Water becomes permanent water where `permanent(top, rows, width)` (bool) is true."""

  def rule(top: int, classes: np.ndarray) -> np.ndarray:
    mask = permanent(top, len(classes), classes.shape[1])
    return np.where((classes == WATER) & mask, np.uint8(PERMANENT_WATER), classes)

  return PixelRule(rule)


def backscatter_caps(
  classes: np.ndarray, vv_vh_db: np.ndarray, max_vv_db: float | None, max_vh_db: float | None
) -> np.ndarray:
  """uint8 classes with water (1) kept only where VV <= max_vv_db or VH <= max_vh_db (a None
  cap never keeps); classes as they are when both are None. vv_vh_db: [rows, cols, 2] dB."""
  if max_vv_db is None and max_vh_db is None:
    return classes
  dark = np.zeros(classes.shape, bool)
  for band, cap in ((0, max_vv_db), (1, max_vh_db)):
    if cap is not None:
      dark |= vv_vh_db[..., band] <= cap
  return np.where((classes == WATER) & ~dark, np.uint8(DRY), classes)


def exclusion_rule(excluded: Callable[[int, int, int], np.ndarray]) -> PixelRule:
  """Valid pixels become EXCLUDED where `excluded(top, rows, width)` (bool) is true."""

  def rule(top: int, classes: np.ndarray) -> np.ndarray:
    mask = excluded(top, len(classes), classes.shape[1]) & (classes != NODATA)
    return np.where(mask, np.uint8(EXCLUDED), classes)

  return PixelRule(rule)


def map_rules(
  min_pixels: int,
  permanent_water: bool = False,
  permanent: Callable | None = None,
  excluded: Callable | None = None,
) -> Rules:
  """The stages of a map (module doc) for a unit of `min_pixels`: `permanent_water` says whether
  the map has that class (from a reference layer, `permanent(top, rows, width)`, or a pre-event
  scene), `excluded(top, rows, width)` the optional exclusions."""
  stages: list = [] if excluded is None else [exclusion_rule(excluded)]
  if permanent is not None:
    stages.append(permanent_water_rule(permanent))
  stages.append(StreamingSieve(min_pixels, partial(sieve_water, value=WATER_BODY)))
  if permanent_water:
    stages += [
      StreamingSieve(min_pixels, partial(sieve_water, value=PERMANENT_WATER, replacement=WATER)),
      StreamingSieve(min_pixels, partial(sieve_water, value=WATER, replacement=PERMANENT_WATER)),
    ]
  return Rules(stages)
