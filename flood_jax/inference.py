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

import flax.serialization
import jax
import ml_collections
import numpy as np
from absl import flags, logging

from flood_jax import blending, model_folder
from flood_jax import checkpoints as checkpoints_lib
from flood_jax.config_checks import check_tiling
from flood_jax.data.bands import input_validity
from flood_jax.data.pipeline import normalised_bands
from flood_jax.data.stats import load_stats
from flood_jax.engines import FlipAveraged, OnnxRuntimeEngine, XlaEngine
from flood_jax.errors import UsageError
from flood_jax.map_rules import backscatter_caps
from flood_jax.models import model_from_config
from flood_jax.sieve import min_pixels, sieve_water

ENGINES, PRECISIONS = ("auto", "xla", "onnxruntime"), ("auto", "float32", "int8")
BUNDLED_MODEL = Path(__file__).parent / "bundled" / "demo"


def training_data_root(workdir: Path, config) -> Path:
  """The root a workdir's tiles were cut from (its manifest), else config.data.root."""
  manifest = Path(config.data.preprocessed or workdir / "tiles") / "manifest.json"
  if manifest.exists():
    return Path(json.loads(manifest.read_text())["root"])
  if config.data.root:
    return Path(config.data.root)
  raise UsageError(f"{workdir}: cannot tell which data the run used; pass --data_root")


class TrainedModel:
  """A model ready to map floods: config, normalisation, decision threshold and an engine.

  `model` and `variables` (the Flax module and its weights) are there when the folder or
  workdir has them; XLA and Grad-CAM++ need them. `card` is a model folder's model.json.
  """

  def __init__(
    self,
    config: ml_collections.ConfigDict,
    stats: dict,
    engine: Callable,
    model=None,
    variables: dict | None = None,
    source: str = "",
    card: dict | None = None,
  ):
    self.config, self.stats, self.engine = config, stats, engine
    self.model, self.variables, self.source, self.card = model, variables, source, card or {}

  @property
  def threshold(self) -> float:
    """Water probability above which a pixel is mapped as water."""
    return float(self.card.get("threshold", self.config.threshold))

  @property
  def min_area_m2(self) -> float:
    """Water patches smaller than this become dry (config.predict.min_area_m2; 0: none)."""
    return float(self.config.predict.get("min_area_m2", 0.0))

  @property
  def water_caps(self) -> tuple[float | None, float | None]:
    """(VV, VH) dB above which no pixel is water (config.predict.max_water_*_db; None: none)."""
    predict = self.config.predict
    return predict.get("max_water_vv_db"), predict.get("max_water_vh_db")

  def classes(
    self, probability: np.ndarray, valid: np.ndarray, vv_vh_db: np.ndarray | None = None
  ) -> np.ndarray:
    """uint8 [...]: 1 water where the probability is above the threshold (and the backscatter
    under the model's caps, which need `vv_vh_db` [..., 2] in dB), 0 dry, 255 no data."""
    classes = (probability > self.threshold).view(np.uint8)
    classes[~valid] = 255
    if self.water_caps != (None, None):
      if vv_vh_db is None:
        raise ValueError("the model caps water by backscatter: pass vv_vh_db")
      classes = backscatter_caps(classes, vv_vh_db, *self.water_caps)
    return classes

  def water(
    self, probability: np.ndarray, pixel_area_m2: float, vv_vh_db: np.ndarray | None = None
  ) -> np.ndarray:
    """bool [H, W] water map of a whole array: above the threshold, under the caps, patches
    smaller than min_area_m2 removed (pixels of `pixel_area_m2`)."""
    probability_or_zero = np.nan_to_num(probability, nan=0.0)
    classes = self.classes(probability_or_zero, np.isfinite(probability), vv_vh_db)
    return sieve_water(classes, min_pixels(self.min_area_m2, pixel_area_m2)) == 1

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
    return self._replace(config=config, engine=engine)

  def with_engine(self, engine: Callable) -> TrainedModel:
    return self._replace(engine=engine)

  def _replace(self, **changes) -> TrainedModel:
    fields = {
      "config": self.config,
      "stats": self.stats,
      "engine": self.engine,
      "model": self.model,
      "variables": self.variables,
      "source": self.source,
      "card": self.card,
    }
    return TrainedModel(**{**fields, **changes})

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
    return model.with_options(flips=bool(model.config.predict.get("test_time_flips", False)))

  @classmethod
  def load_workdir(cls, workdir: str | Path) -> TrainedModel:
    """The best checkpoint of a training workdir, on XLA."""
    workdir = Path(workdir)
    config_path = workdir / "config.json"
    if not config_path.exists():
      raise UsageError(
        f"{workdir}: not a training workdir (no config.json) nor a model folder (no model.json)"
      )
    config = ml_collections.ConfigDict(json.loads(config_path.read_text()))
    stats = load_stats(workdir / "stats.json")
    from flood_jax.train import Trainer

    abstract_state = jax.eval_shape(Trainer(config).initial_state)
    state, _ = checkpoints_lib.restore_best(workdir, checkpoints_lib.abstract(abstract_state))
    variables = jax.device_get({"params": state.params, "batch_stats": state.batch_stats})
    model = model_from_config(config.model)
    threshold = workdir / "threshold.json"  # written by training when it calibrates one
    card = (
      {"threshold": json.loads(threshold.read_text())["threshold"]} if threshold.exists() else {}
    )
    engine = XlaEngine(model, variables)
    return cls(config, stats, engine, model, variables, str(workdir), card)

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
    config = ml_collections.ConfigDict(card["config"])
    on_cpu = jax.devices()[0].platform == "cpu"
    engine = ("onnxruntime" if on_cpu else "xla") if engine == "auto" else engine
    model = model_from_config(config.model)
    variables = None
    if model_folder.FILES["variables"] in card["files"]:
      variables = flax.serialization.msgpack_restore(
        (folder / model_folder.FILES["variables"]).read_bytes()
      )
    if engine == "xla":
      if variables is None:
        raise UsageError(f"{folder}: holds no variables.msgpack, so it runs on onnxruntime only")
      runner = XlaEngine(model, variables)
    else:
      runner = _onnx_engine(folder, card, precision, threads)
    return cls(config, card["stats"], runner, model, variables, str(folder), card)

  @staticmethod
  def define_flags() -> None:
    """The flags that choose a model and its engine, for the programs that load one."""
    flags.DEFINE_string(
      "model",
      None,
      "Model folder (flood_jax.export). Default: the bundled "
      "demo model, unless --workdir is given.",
    )
    flags.DEFINE_string("workdir", None, "Training workdir holding the best checkpoint.")
    flags.DEFINE_enum(
      "engine", "auto", list(ENGINES), "auto: ONNX Runtime on a CPU with a model folder, else XLA."
    )
    flags.DEFINE_enum(
      "precision",
      "auto",
      list(PRECISIONS),
      "ONNX Runtime's model; auto: int8 where export checked it, else float32.",
    )
    flags.DEFINE_integer("threads", None, "ONNX Runtime threads (default: the available cores).")
    flags.DEFINE_bool(
      "flips",
      None,
      "Average the model over 4 flips of each window (4x slower; "
      "default: the model's config.predict.test_time_flips).",
    )
    flags.DEFINE_float(
      "min_area_m2",
      None,
      "Water patches smaller than this become dry "
      "(default: the model's config.predict.min_area_m2).",
    )
    flags.DEFINE_string(
      "max_water_caps",
      None,
      "Backscatter caps VV,VH in dB: water only where VV <= the first or VH <= the second "
      "('-11,off'; 'off,off' for none; default: the model's config.predict.max_water_*_db).",
    )

  @staticmethod
  def source_from_flags() -> str:
    """--model or --workdir, else the model bundled with the package."""
    options = flags.FLAGS
    if options.model and options.workdir:
      raise UsageError("--model and --workdir both name a model; give one")
    source = options.model or options.workdir
    if source is None:
      if not model_folder.is_model_folder(BUNDLED_MODEL):
        raise UsageError("no --model or --workdir, and this install has no bundled model")
      logging.info("No --model or --workdir: using the bundled demo model %s", BUNDLED_MODEL)
      source = str(BUNDLED_MODEL)
    return source

  @classmethod
  def from_flags(
    cls, threads: int | None = None, engine: str | None = None, precision: str | None = None
  ) -> TrainedModel:
    """The model the flags name, with their options; `engine` and `precision` replace the
    flags' (evaluate --engines)."""
    options = flags.FLAGS
    model = cls.load(
      cls.source_from_flags(),
      engine or options.engine,
      precision or options.precision,
      options.threads or threads,
    )
    return model.with_options(
      options.flips, options.min_area_m2, parse_water_caps(options.max_water_caps)
    )

  def fingerprint(self) -> str:
    """Changes whenever the model or a setting that changes its maps changes."""
    import hashlib

    if self.card.get("files"):
      identity = self.card["files"]
    else:
      best = Path(self.source) / "checkpoints" / "best"
      identity = [self.source, best.stat().st_mtime_ns if best.exists() else None]
    engine = [self.engine.name, self.engine.precision]
    settings = [identity, engine, self.threshold, self.min_area_m2, list(self.tiling())]
    if self.water_caps != (None, None):  # absent before caps existed: old maps stay complete
      settings.append(list(self.water_caps))
    return hashlib.sha256(json.dumps(settings, default=str).encode()).hexdigest()[:16]

  def describe(self) -> str:
    engine = f"{self.engine.name} {self.engine.precision}"
    unit = f", minimum water patch {self.min_area_m2:g} m²" if self.min_area_m2 else ""
    caps = caps_text(self.water_caps)
    unit += f", water only where {caps}" if caps else ""
    return f"{self.source} on {engine}, threshold {self.threshold:.3f}{unit}"

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


def caps_text(water_caps: tuple[float | None, float | None]) -> str:
  """'VV <= -11 dB' (or with VH) of (VV, VH) caps; '' without any."""
  bands = zip(("VV", "VH"), water_caps, strict=True)
  return " or ".join(f"{band} <= {cap:g} dB" for band, cap in bands if cap is not None)


def parse_water_caps(text: str | None) -> tuple[float | None, float | None] | None:
  """--max_water_caps=VV,VH ('off' for none on a band) as (VV, VH); None when not given."""
  if text is None:
    return None
  parts = [part.strip().lower() for part in text.split(",")]
  try:
    if len(parts) != 2:
      raise ValueError
    return tuple(None if part == "off" else float(part) for part in parts)
  except ValueError:
    raise UsageError(
      f"--max_water_caps={text}: expected VV,VH in dB or 'off', e.g. -11,off"
    ) from None


def _onnx_engine(folder: Path, card: dict, precision: str, threads: int | None):
  """ONNX Runtime on the folder's int8 or float32 model."""
  has_int8 = model_folder.FILES["int8"] in card["files"]
  precision = ("int8" if has_int8 else "float32") if precision == "auto" else precision
  if precision == "int8" and not has_int8:
    reason = card.get("checks", {}).get("int8", {})
    raise UsageError(f"{folder}: holds no int8 model (export's check: {reason}); use float32")
  return OnnxRuntimeEngine(folder / model_folder.FILES[precision], precision, threads)
