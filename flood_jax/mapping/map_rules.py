"""The rules that turn a streamed water map into a finished class map, band by band.

Bands of rows arrive from the blended model (`flood_jax.mapping.blending`) in order; each rule is a
stage with `push(top, rows)` and `finish()` returning the bands it has finished, and `Rules`
chains them, so memory is a few bands whatever the scene's height. Bands arrive as the model
(and change detection, `flood_jax.mapping.change`, which may already mark permanent water) classed them.
The order, and why:
1. excluded pixels (exclusion layers: `scenes.layers.Exclusion`) become EXCLUDED, first, so that
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
from flood_jax.mapping.classes import DRY, EXCLUDED, NODATA, PERMANENT_WATER, WATER
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
  """How a water probability becomes a map, one value handed to whole-array maps, streamed
  scenes, the pre-event path and chip evaluation alike: the decision threshold, backscatter caps
  ((VV, VH) dB; water only where VV <= cap or VH <= cap, None: no cap on that band), the minimum
  mapping unit (m²) and the scene's own VV cap (`scene_split_cap` with this margin in dB; None:
  off; whole arrays only). A new rule is a field here, in `fingerprint` and in `describe`."""

  threshold: float = 0.5
  max_vv_db: float | None = None
  max_vh_db: float | None = None
  min_area_m2: float = 0.0
  split_margin_db: float | None = None

  @property
  def caps(self) -> tuple[float | None, float | None]:
    return self.max_vv_db, self.max_vh_db

  def classes(
    self, probability: np.ndarray, valid: np.ndarray, vv_vh_db: np.ndarray | None = None
  ) -> np.ndarray:
    """uint8 [...]: 1 water where the probability is above the threshold (and the backscatter
    under the caps, which need `vv_vh_db` [..., 2] in dB), 0 dry, 255 no data."""
    classes = (probability > self.threshold).view(np.uint8)
    classes[~valid] = NODATA
    if self.caps != (None, None):
      if vv_vh_db is None:
        raise ValueError("the rule caps water by backscatter: pass vv_vh_db")
      classes = backscatter_caps(classes, vv_vh_db, *self.caps)
    return classes

  def array_classes(
    self, probability: np.ndarray, unit_pixels: int, vv_vh_db: np.ndarray | None = None
  ) -> np.ndarray:
    """uint8 [H, W] classes of a whole array held in memory (probability NaN: no data): above
    the threshold, under the caps and the array's own split cap, water patches under
    `unit_pixels` dry, as a streamed scene's map gives them (without layers)."""
    valid = np.isfinite(probability)
    classes = self.classes(np.nan_to_num(probability, nan=0.0), valid, vv_vh_db)
    if self.split_margin_db is not None and vv_vh_db is not None:
      cap = scene_split_cap(vv_vh_db[..., 0][valid], self.split_margin_db)
      classes = backscatter_caps(classes, vv_vh_db, cap, None) if cap is not None else classes
    return sieve_water(classes, unit_pixels, WATER_BODY)

  def water(
    self, probability: np.ndarray, vv_vh_db: np.ndarray, validity: np.ndarray, pixel_m2: float
  ) -> np.ndarray:
    """bool [H, W] water of a chip (`array_classes` where `validity`, pixels of `pixel_m2`)."""
    probability = np.where(validity, probability, np.nan)
    unit = min_pixels(self.min_area_m2, pixel_m2)
    return self.array_classes(probability, unit, vv_vh_db) == WATER

  def fingerprint(self, tiling: list) -> list:
    """The settings of a model's fingerprint with the rule, around the windows' `tiling` where
    it always stood (a rule absent when older maps were made adds nothing, so they stay
    complete: caps only when set, the split only when on)."""
    settings = [self.threshold, self.min_area_m2, tiling]
    if self.caps != (None, None):
      settings.append(list(self.caps))
    if self.split_margin_db is not None:
      settings.append({"split_margin_db": self.split_margin_db})
    return settings

  def describe(self) -> str:
    """', minimum water patch 10000 m², water only where VV <= -11 dB' (after the threshold)."""
    text = f", minimum water patch {self.min_area_m2:g} m²" if self.min_area_m2 else ""
    caps = caps_text(self.caps)
    text += f", water only where {caps}" if caps else ""
    if self.split_margin_db is not None:
      text += f", VV under the scene's own split + {self.split_margin_db:g} dB"
    return text

  def items(self) -> list[str]:
    """The rules in words, one a line (reports)."""
    items = [f"decision threshold {self.threshold:.3f} (water probability)"]
    if self.min_area_m2:
      items.append(f"water patches under {self.min_area_m2:,.0f} m² become dry")
    if caps_text(self.caps):
      items.append(f"water only where {caps_text(self.caps)}")
    if self.split_margin_db is not None:
      items.append(f"water only where VV is under the scene's split + {self.split_margin_db:g} dB")
    return items


def caps_text(water_caps: tuple[float | None, float | None]) -> str:
  """'VV <= -11 dB' (or with VH) of (VV, VH) caps; '' without any."""
  bands = zip(("VV", "VH"), water_caps, strict=True)
  return " or ".join(f"{band} <= {cap:g} dB" for band, cap in bands if cap is not None)


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
