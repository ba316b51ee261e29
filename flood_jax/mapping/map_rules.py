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

import dataclasses
from collections.abc import Callable
from functools import partial

import numpy as np

from flood_jax.core.baselines import otsu_threshold
from flood_jax.mapping.products import DRY, EXCLUDED, NODATA, PERMANENT_WATER, WATER
from flood_jax.mapping.sieve import WATER_BODY, StreamingSieve, min_pixels, sieve_water

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


SPLIT_SEPARATION = 3.0  # Ashman's D above which a scene's two VV modes count as separate


def scene_split_cap(vv_db: np.ndarray, margin_db: float, separation: float = SPLIT_SEPARATION):
  """A scene's own VV cap (dB), from its two backscatter modes, or None where it has no two.

  Otsu's threshold of the scene's valid VV splits it in a dark and a bright part; where their
  Ashman's D (sqrt(2) |m1 - m2| / sqrt(s1² + s2²)) reaches `separation` and each part holds at
  least 1% of the pixels, the dark mode is open water and the cap is the threshold plus
  `margin_db`. Otsu's halves of one Gaussian mode have D = 2.7, so `separation` above that
  asks for two modes (split-based thresholding as in HydroSAR and GFM, on the whole scene)."""
  values = np.asarray(vv_db, np.float64)
  values = values[np.isfinite(values)]
  if values.size < 100:
    return None
  threshold = otsu_threshold(values)
  dark, bright = values[values <= threshold], values[values > threshold]
  if min(dark.size, bright.size) < 0.01 * values.size:
    return None
  spread = np.sqrt(dark.var() + bright.var())
  ashman = np.sqrt(2.0) * abs(bright.mean() - dark.mean()) / max(spread, 1e-9)
  return float(threshold + margin_db) if ashman >= separation else None


@dataclasses.dataclass(frozen=True)
class MapRule:
  """How a water probability becomes a map: the decision threshold, backscatter caps ((VV, VH)
  dB; water only where VV <= cap or VH <= cap, None: no cap on that band), the minimum mapping
  unit (m²) and the scene's own VV cap (`scene_split_cap` with this margin in dB; None: off)."""

  threshold: float = 0.5
  max_vv_db: float | None = None
  max_vh_db: float | None = None
  min_area_m2: float = 0.0
  split_margin_db: float | None = None

  def water(
    self, probability: np.ndarray, vv_vh_db: np.ndarray, validity: np.ndarray, pixel_m2: float
  ) -> np.ndarray:
    """bool [H, W] water of a whole array held in memory (a chip): probability above the
    threshold, under the caps and the scene's split cap, patches of the unit and more."""
    classes = np.where(validity, (probability > self.threshold).astype(np.uint8), np.uint8(NODATA))
    classes = backscatter_caps(classes, vv_vh_db, self.max_vv_db, self.max_vh_db)
    if self.split_margin_db is not None:
      cap = scene_split_cap(vv_vh_db[..., 0][validity], self.split_margin_db)
      classes = backscatter_caps(classes, vv_vh_db, cap, None) if cap is not None else classes
    return sieve_water(classes, min_pixels(self.min_area_m2, pixel_m2), WATER_BODY) == WATER

  def describe(self) -> str:
    caps = [f"{band} <= {cap:g} dB" for band, cap in (("VV", self.max_vv_db), ("VH", self.max_vh_db))
            if cap is not None]  # fmt: skip
    parts = [f"threshold {self.threshold:.2f}", " or ".join(caps) or "no cap"]
    parts.append(f"unit {self.min_area_m2:g} m²" if self.min_area_m2 else "no unit")
    if self.split_margin_db is not None:
      parts.append(f"scene split + {self.split_margin_db:g} dB")
    return ", ".join(parts)


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
