"""A trained model ready for inference: `TrainedModel`.

`TrainedModel.load(workdir)` restores the best checkpoint with the config and normalisation
statistics saved beside it, and runs it on an engine (`flood_jax.mapping.engines`). It maps arrays of
any size through the blended windows of `flood_jax.mapping.blending`, so chip evaluation and whole-scene
prediction produce the same map.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import ml_collections
import numpy as np

from flood_jax.core import model_folder
from flood_jax.core.config import load_config
from flood_jax.core.windows import check_tiling
from flood_jax.dataset.stats import load_stats, normalised_bands
from flood_jax.errors import UsageError
from flood_jax.mapping import blending
from flood_jax.mapping.engines import (
  FlipAveraged,
  OnnxRuntimeEngine,
  XlaEngine,
  accelerator_present,
)
from flood_jax.mapping.map_rules import MapRule
from flood_jax.mapping.products import WATER
from flood_jax.mapping.sieve import min_pixels
from flood_jax.scenes.bands import input_validity

ENGINES, PRECISIONS = ("auto", "xla", "onnxruntime"), ("auto", "float32", "int8")
BUNDLED_MODEL = Path(__file__).parents[1] / "bundled" / "demo"


def bundled_model() -> Path:
  """The model folder shipped with the package; UsageError where this install has none."""
  if not model_folder.is_model_folder(BUNDLED_MODEL):
    raise UsageError("no model given (--model or --workdir), and this install has no bundled model")
  return BUNDLED_MODEL


def training_data_root(workdir: Path, config) -> Path:
  """The root a workdir's tiles were cut from (its manifest), else config.data.root."""
  manifest = Path(config.data.preprocessed or workdir / "tiles") / "manifest.json"
  if manifest.exists():
    return Path(json.loads(manifest.read_text())["root"])
  if config.data.root:
    return Path(config.data.root)
  raise UsageError(f"{workdir}: cannot tell which data the run used; pass --data_root")


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
    """Water probability above which a pixel is mapped as water."""
    return self.rule.threshold

  @property
  def min_area_m2(self) -> float:
    """Water patches smaller than this become dry (config.predict.min_area_m2; 0: none)."""
    return self.rule.min_area_m2

  @property
  def water_caps(self) -> tuple[float | None, float | None]:
    """(VV, VH) dB above which no pixel is water (config.predict.max_water_*_db; None: none)."""
    return self.rule.caps

  @property
  def pixel_size_m(self) -> float:
    """Ground pixel size (m) of the data the model was trained on."""
    size = self.card.get("input", {}).get("pixel_size_m")
    return float(size or self.config.data.pixel_size_m)

  def classes(
    self, probability: np.ndarray, valid: np.ndarray, vv_vh_db: np.ndarray | None = None
  ) -> np.ndarray:
    """`MapRule.classes` of the model's rule."""
    return self.rule.classes(probability, valid, vv_vh_db)

  def array_classes(
    self, probability: np.ndarray, unit_pixels: int, vv_vh_db: np.ndarray | None = None
  ) -> np.ndarray:
    """`MapRule.array_classes` of the model's rule."""
    return self.rule.array_classes(probability, unit_pixels, vv_vh_db)

  def water(
    self, probability: np.ndarray, pixel_area_m2: float, vv_vh_db: np.ndarray | None = None
  ) -> np.ndarray:
    """bool [H, W] water map of a whole array: `array_classes` with the unit of min_area_m2
    in pixels of `pixel_area_m2`."""
    unit = min_pixels(self.min_area_m2, pixel_area_m2)
    return self.array_classes(probability, unit, vv_vh_db) == WATER

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

  @classmethod
  def load(
    cls,
    source: str | Path,
    engine: str = "auto",
    precision: str = "auto",
    threads: int | None = None,
  ) -> TrainedModel:
    """A training workdir's best checkpoint (XLA), or a model folder on the chosen engine,
    with the test-time flips its config asks for."""
    if model_folder.is_model_folder(source):
      model = cls.load_folder(source, engine, precision, threads)
    elif engine == "onnxruntime":
      raise UsageError(
        f"{source}: --engine=onnxruntime needs a model folder; write one with "
        "python -m flood_jax.export"
      )
    else:
      model = cls.load_workdir(source)
    return model.with_options(flips=bool(model.config.predict.test_time_flips))

  @classmethod
  def load_workdir(cls, workdir: str | Path) -> TrainedModel:
    """The best checkpoint of a training workdir, on XLA."""
    workdir = Path(workdir)
    config_path = workdir / "config.json"
    if not config_path.exists():
      raise UsageError(
        f"{workdir}: not a training workdir (no config.json) nor a model folder (no model.json)"
      )
    config = load_config(config_path)
    stats = load_stats(workdir / "stats.json")
    import jax

    from flood_jax.models import model_from_config
    from flood_jax.training import checkpoints as checkpoints_lib
    from flood_jax.training.train import initial_state

    model = model_from_config(config.model)
    shapes = jax.eval_shape(lambda: initial_state(config, model, config.data.tile_size))
    state, _ = checkpoints_lib.restore_best(workdir, checkpoints_lib.abstract(shapes))
    variables = jax.device_get({"params": state.params, "batch_stats": state.batch_stats})
    threshold = workdir / "threshold.json"  # written by training when it calibrates one
    card = (
      {"threshold": json.loads(threshold.read_text())["threshold"]} if threshold.exists() else {}
    )
    engine = XlaEngine(model, variables)
    flax = FlaxWeights(lambda: (model, variables))
    return cls(config, stats, engine, str(workdir), card, flax)

  @classmethod
  def load_folder(
    cls, folder: str | Path, engine: str, precision: str, threads: int | None
  ) -> TrainedModel:
    """A model folder (flood_jax.export), its files checked against their checksums.

    `auto` picks ONNX Runtime on a CPU, int8 where export recorded that it passed its check
    (else float32), and XLA on a GPU or TPU.
    """
    folder = Path(folder)
    card = model_folder.read_folder(folder)
    config = load_config(card["config"], str(folder / model_folder.MODEL_JSON))
    engine = ("xla" if accelerator_present() else "onnxruntime") if engine == "auto" else engine
    flax = None
    if model_folder.FILES["variables"] in card["files"]:
      flax = FlaxWeights(functools.partial(_folder_weights, folder, config))
    elif engine == "xla":
      raise UsageError(f"{folder}: holds no variables.msgpack, so it runs on onnxruntime only")
    runner = (
      XlaEngine(*flax.pair) if engine == "xla" else _onnx_engine(folder, card, precision, threads)
    )
    return cls(config, card["stats"], runner, str(folder), card, flax)

  def fingerprint(self) -> str:
    """Changes whenever the model or a setting that changes its maps changes."""
    import hashlib

    if self.card.get("files"):
      identity = self.card["files"]
    else:
      best = Path(self.source) / "checkpoints" / "best"
      identity = [self.source, best.stat().st_mtime_ns if best.exists() else None]
    engine = [self.engine.name, self.engine.precision]
    settings = [identity, engine, *self.rule.fingerprint(list(self.tiling()))]
    return hashlib.sha256(json.dumps(settings, default=str).encode()).hexdigest()[:16]

  def training_data(self) -> str:
    """What the model was trained on: its data root, or that it saw synthetic data only."""
    if self.config.data.root:
      return self.config.data.root
    card = Path(self.source) / model_folder.MODEL_CARD
    where = f"; read {card} before relying on its maps" if card.exists() else ""
    return f"synthetic data only (flood_jax.dataset.synthetic), no real scene{where}"

  def limits(self) -> list[str]:
    """The "Limits" of the model's card (MODEL_CARD.md), one entry per item; [] without one."""
    return model_folder.card_limits(Path(self.source))

  def describe(self) -> str:
    engine = f"{self.engine.name} {self.engine.precision}"
    return f"{self.source} on {engine}, threshold {self.threshold:.3f}{self.rule.describe()}"

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


def _onnx_engine(folder: Path, card: dict, precision: str, threads: int | None):
  """ONNX Runtime on the folder's int8 or float32 model."""
  has_int8 = model_folder.FILES["int8"] in card["files"]
  precision = ("int8" if has_int8 else "float32") if precision == "auto" else precision
  if precision == "int8" and not has_int8:
    reason = card.get("checks", {}).get("int8", {})
    raise UsageError(f"{folder}: holds no int8 model (export's check: {reason}); use float32")
  return OnnxRuntimeEngine(folder / model_folder.FILES[precision], precision, threads)


def _folder_weights(folder: Path, config: ml_collections.ConfigDict) -> tuple:
  """(Flax module, variables) of a model folder's variables.msgpack."""
  import flax.serialization

  from flood_jax.models import model_from_config

  variables = flax.serialization.msgpack_restore(
    (folder / model_folder.FILES["variables"]).read_bytes()
  )
  return model_from_config(config.model), variables
