"""A trained model ready for inference: `TrainedModel`.

`TrainedModel.load(workdir)` restores the best checkpoint with the config and normalisation
statistics saved beside it, and runs it on an engine (`flood_jax.engines`). It maps arrays of
any size through the blended windows of `flood_jax.blending`, so chip evaluation and whole-scene
prediction produce the same map.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import jax
import ml_collections
import numpy as np
from absl import flags

from flood_jax import blending
from flood_jax import checkpoints as checkpoints_lib
from flood_jax.config_checks import check_tiling
from flood_jax.data.pipeline import prepare
from flood_jax.data.stats import load_stats
from flood_jax.engines import XlaEngine
from flood_jax.errors import UsageError
from flood_jax.models import model_from_config


class TrainedModel:
  """A model ready to map floods: config, normalisation, decision threshold and an engine.

  `model` and `variables` (the Flax module and its weights) are there when the model came from
  a training workdir; Grad-CAM++ needs them.
  """

  def __init__(
    self,
    config: ml_collections.ConfigDict,
    stats: dict,
    engine: Callable,
    model=None,
    variables: dict | None = None,
    source: str = "",
  ):
    self.config, self.stats, self.engine = config, stats, engine
    self.model, self.variables, self.source = model, variables, source

  @property
  def threshold(self) -> float:
    """Water probability above which a pixel is mapped as water."""
    return float(self.config.threshold)

  @classmethod
  def load(cls, workdir: str | Path) -> TrainedModel:
    """The best checkpoint of a training workdir, on XLA."""
    workdir = Path(workdir)
    config_path = workdir / "config.json"
    if not config_path.exists():
      raise UsageError(
        f"{workdir}: not a training workdir (no config.json); train with flood_jax.main first"
      )
    config = ml_collections.ConfigDict(json.loads(config_path.read_text()))
    stats = load_stats(workdir / "stats.json")
    from flood_jax.train import Trainer

    abstract_state = jax.eval_shape(Trainer(config).initial_state)
    state, _ = checkpoints_lib.restore_best(workdir, checkpoints_lib.abstract(abstract_state))
    variables = jax.device_get({"params": state.params, "batch_stats": state.batch_stats})
    model = model_from_config(config.model)
    return cls(config, stats, XlaEngine(model, variables), model, variables, str(workdir))

  @staticmethod
  def define_flags() -> None:
    """The flags that choose a model, for the programs that load one."""
    flags.DEFINE_string("workdir", None, "Training workdir holding the best checkpoint.")

  @classmethod
  def from_flags(cls) -> TrainedModel:
    if not flags.FLAGS.workdir:
      raise UsageError("--workdir is required: the training workdir of the model")
    return cls.load(flags.FLAGS.workdir)

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
    return self.engine(images)

  def tiling(
    self, tile_size: int | None = None, overlap: int | None = None, batch_size: int | None = None
  ) -> tuple[int, int, int]:
    """(tile_size, overlap, batch_size) with config.predict's values where None; checked."""
    config = self.config.predict
    tile_size, batch_size = tile_size or config.tile_size, batch_size or config.batch_size
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

    def read_rows(top: int, rows: int) -> np.ndarray:
      strip = np.full((rows, width, 2), np.nan, np.float32)
      available = vv_vh_db[top : top + rows]
      strip[: len(available)] = available
      return strip

    tiling = self.tiling(tile_size, overlap, batch_size)
    for top, rows, valid in self.blended_rows(read_rows, height, width, tiling):
      probability[top : top + len(rows)] = np.where(valid, rows, np.nan)
    return probability

  def blended_rows(
    self,
    read_rows: Callable[[int, int], np.ndarray],
    height: int,
    width: int,
    tiling: tuple[int, int, int],
    on_batch: Callable[[int], None] | None = None,
  ) -> Iterator[blending.Rows]:
    """`blending.blended_rows` with this model: bands of finished rows of a streamed scene."""
    return blending.blended_rows(
      self.probabilities, self.normalised_input, read_rows, height, width, tiling, on_batch
    )
