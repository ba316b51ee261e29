"""A trained model ready for inference: `TrainedModel`.

A model (loaded by `mapping.loading`) holds its config, normalisation and card, and runs on an
engine (`mapping.engines`) chosen once. It maps arrays of any size through the blended windows
of `mapping.blending`, so chip evaluation and whole-scene prediction produce the same map, and
hands its probabilities to its `MapRule`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator

import ml_collections
import numpy as np

from flood_jax.core.windows import check_tiling
from flood_jax.errors import UsageError
from flood_jax.mapping import blending, identity
from flood_jax.mapping.engines import (
  FlipAveraged,
)
from flood_jax.mapping.map_rules import MapRule
from flood_jax.scenes.bands import input_validity, normalised_bands


class FlaxWeights:
  """The Flax module and its variables, loaded by `load` on first use (XLA, Grad-CAM++,
  export), so a model that maps on ONNX Runtime never imports flax."""

  def __init__(self, load: Callable[[], tuple]):
    self._load = load

  @functools.cached_property
  def pair(self) -> tuple:
    return self._load()


@dataclasses.dataclass(frozen=True)
class TrainedModel:
  """A model ready to map floods: config, normalisation, decision threshold and an engine.

  `model` and `variables` (the Flax module and its weights) are there when the folder or
  workdir has them; XLA and Grad-CAM++ need them. `card` is a model folder's model.json.
  """

  config: ml_collections.ConfigDict
  stats: dict
  engine: Callable
  source: str = ""
  card: dict = dataclasses.field(default_factory=dict)
  flax: FlaxWeights | None = None

  @property
  def model(self):
    """The Flax module (None where the folder holds no variables)."""
    return self.flax.pair[0] if self.flax else None

  @property
  def variables(self) -> dict | None:
    return self.flax.pair[1] if self.flax else None

  @property
  def rule(self) -> MapRule:
    """The map rule: the card's threshold (else config.threshold) and config.predict's rules."""
    predict = self.config.predict
    return MapRule(
      threshold=float(self.card.get("threshold", self.config.threshold)),
      max_vv_db=predict.max_water_vv_db,
      max_vh_db=predict.max_water_vh_db,
      min_area_m2=float(predict.min_area_m2),
      split_margin_db=predict.get("scene_split_margin_db"),
    )

  @property
  def threshold(self) -> float:
    """Water probability above which a pixel is mapped as water (the rule's)."""
    return self.rule.threshold

  @property
  def pixel_size_m(self) -> float:
    """Ground pixel size (m) of the data the model was trained on."""
    size = self.card.get("input", {}).get("pixel_size_m")
    return float(size or self.config.data.pixel_size_m)

  def with_options(
    self,
    flips: bool | None = None,
    min_area_m2: float | None = None,
    water_caps: tuple[float | None, float | None] | None = None,
  ):
    """The same model with test-time flips, a minimum mapping unit or backscatter caps
    ((VV, VH) dB, None for no cap on a band) changed."""
    config = ml_collections.ConfigDict(self.config.to_dict())
    if min_area_m2 is not None:
      config.predict.min_area_m2 = float(min_area_m2)
    if water_caps is not None:
      config.predict.max_water_vv_db, config.predict.max_water_vh_db = water_caps
    engine = self.engine
    if flips and not isinstance(engine, FlipAveraged):
      engine = FlipAveraged(engine)
    if flips is False and isinstance(engine, FlipAveraged):
      engine = engine.engine
    return dataclasses.replace(self, config=config, engine=engine)

  def with_engine(self, engine: Callable) -> TrainedModel:
    return dataclasses.replace(self, engine=engine)

  def fingerprint(self) -> str:
    return identity.fingerprint(self)

  def describe(self) -> str:
    return identity.describe(self)

  def normalised_input(self, vv_vh_db: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """([..., 3] model input, bool validity) from VV and VH in dB (NaN where missing)."""
    validity = input_validity(vv_vh_db[..., 0], vv_vh_db[..., 1])
    image = normalised_bands(vv_vh_db, validity, self.stats, self.config.data.band_domain)
    return image, validity

  def probabilities(self, images: np.ndarray) -> np.ndarray:
    """float32 [B, T, T] water probability of normalised images [B, T, T, 3]."""
    return self.engine(images)

  def tiling(
    self, tile_size: int | None = None, overlap: int | None = None, batch_size: int | None = None
  ) -> tuple[int, int, int]:
    """(tile_size, overlap, batch_size) with config.predict's values where None; checked.

    An exported ONNX model has a fixed window size, and no other is accepted.
    """
    config = self.config.predict
    fixed = getattr(self.engine, "tile_size", None)
    if fixed and tile_size not in (None, fixed):
      raise UsageError(
        f"{self.source}: the ONNX model maps {fixed}-px windows only, not {tile_size}"
      )
    tile_size = fixed or tile_size or config.tile_size
    batch_size = batch_size or config.batch_size
    overlap = config.overlap if overlap is None else overlap
    check_tiling(tile_size, overlap, batch_size)
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

    def read_window(top: int, rows: int, left: int, cols: int) -> np.ndarray:
      pixels = np.full((rows, cols, 2), np.nan, np.float32)
      available = vv_vh_db[top : top + rows, left : left + cols]
      pixels[: available.shape[0], : available.shape[1]] = available
      return pixels

    tiling = self.tiling(tile_size, overlap, batch_size)
    for top, rows, valid in self.blended_rows(read_window, height, width, tiling):
      probability[top : top + len(rows)] = np.where(valid, rows, np.nan)
    return probability

  def blended_rows(
    self,
    read_window: Callable[[int, int, int, int], np.ndarray],
    height: int,
    width: int,
    tiling: tuple[int, int, int],
    on_batch: Callable[[int], None] | None = None,
  ) -> Iterator[blending.Rows]:
    """`blending.blended_rows` with this model: bands of finished rows of a streamed scene."""
    return blending.blended_rows(
      self.probabilities, self.normalised_input, read_window, height, width, tiling, on_batch
    )
