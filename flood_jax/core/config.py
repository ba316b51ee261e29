"""The configuration: every field with its default (`default_config`), the checks of its values,
and `load_config`, which reads a stored config (a workdir's config.json, a model folder's card)
onto the defaults and checks it, so a field added since the model was trained takes its default
and a bad value is refused in one line naming the field.

`configs/*.py` build on `default_config`; training adds the checks that need the run
(`training.config_checks.validate`: loss names, devices, processes).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import ml_collections

from flood_jax.core.windows import check_tiling
from flood_jax.errors import ConfigError, DataError

# The focal Tversky loss's parameters (Abraham & Khan 2019, their code), written once: the
# config's defaults and the loss functions' (flood_jax.training.losses).
TVERSKY_ALPHA, TVERSKY_BETA, FOCAL_TVERSKY_GAMMA, FOCAL_GAMMA = 0.7, 0.3, 4.0 / 3.0, 2.0

PROBABILITIES = (
  "data.weak_fraction",
  "data.real_fraction",
  "data.synthetic_dark_fields",
  "augment.flip_probability",
  "augment.rotate_probability",
  "augment.brightness_probability",
  "augment.contrast_probability",
  "augment.level_shift_probability",
  "augment.speckle_probability",
)


def default_config() -> ml_collections.ConfigDict:
  """Every field of flood_jax with its default and what it means (documented here once)."""
  config = ml_collections.ConfigDict()
  config.seed = 0  # Seeds parameters, shuffling and augmentation; same seed, same run.
  config.init_from = ""  # Model folder or workdir to fine-tune (weights, stats); "": scratch.
  _data_fields(config)
  _augment_fields(config)
  _model_fields(config)
  _loss_fields(config)
  _optimizer_fields(config)
  _loop_fields(config)
  _predict_fields(config)
  _evaluate_fields(config)
  return config


def _data_fields(config: ml_collections.ConfigDict) -> None:
  """config.data: where the chips are, tiles, weak labels, synthetic data."""
  data = config.data = ml_collections.ConfigDict()
  data.root = ""  # Sen1Floods11 v1.1 folder (holds data/ and splits/). "" = generate synthetic.
  data.preprocessed = ""  # Tile store of flood_jax.preprocess; "" = <workdir>/tiles.
  data.tile_size = 256  # Tile side in pixels; 512-px chips are cut into tiles. Divisible by 8.
  data.tile_stride = 256  # Step between tiles in pixels (<= tile_size; smaller = overlap).
  data.band_domain = "db"  # "db": band formulas on dB as the notebook; "linear": on power.
  data.pixel_size_m = 10.0  # Ground pixel size of the training data, metres (Sen1Floods11: 10).
  data.splits = ("train", "valid", "test", "bolivia")  # Official splits to preprocess.
  data.use_weak = True  # Include the weak (Otsu-labelled) chips in training.
  data.weak_fraction = 0.5  # Share of each training batch drawn from weak tiles, in [0, 1].
  data.stats_from = ""  # stats.json to normalise with instead of computing it on train tiles.
  # Real chips mixed into training (flood_jax.dataset.catalog: Sen1Floods11, DFC 2024, TerraMesh
  # or generic folders): every chip of these folders, whatever its split, but those held out.
  data.real_roots = ()  # Folders of real chips; () trains on data.root (or synthetic data) alone.
  data.real_fraction = 0.5  # Share of each training batch drawn from real tiles, in [0, 1].
  data.real_hand_weight = 1.0  # Loss weight of a hand-labelled real pixel (synthetic: 1), >= 0.
  data.real_weak_weight = 0.5  # Loss weight of a weakly labelled real pixel (land cover), >= 0.
  data.real_holdout = ()  # Chip ids, events or datasets of real_roots never trained on (folds).
  data.num_threads = 2  # grain threads reading and augmenting tiles (per process).
  data.prefetch = 4  # Batches grain prepares ahead.
  # Synthetic data generated when data.root is "" (see flood_jax.dataset.synthetic).
  data.synthetic_hand = 60  # Hand-labelled synthetic chips (10% Bolivia, 60/20/20 of the rest).
  data.synthetic_weak = 60  # Weak synthetic chips.
  data.synthetic_dark_fields = 0.0  # Largest share of dark smooth dry parcels per chip, [0, 1].


def _augment_fields(config: ml_collections.ConfigDict) -> None:
  """config.augment: training augmentation (each probability in [0, 1])."""
  aug = config.augment = ml_collections.ConfigDict()
  aug.flip_probability = 0.5  # Each of horizontal and vertical flip.
  aug.rotate_probability = 0.75  # Rotate by 90, 180 or 270 degrees (chosen uniformly).
  aug.brightness_probability = 0.5  # Add a uniform offset in [-brightness, brightness] (std units).
  aug.brightness = 0.2  # Largest brightness offset, in standard deviations of the bands.
  aug.contrast_probability = 0.5  # Scale each band about its tile mean by [1-c, 1+c].
  aug.contrast = 0.2  # Largest relative contrast change.
  aug.level_shift_probability = 0.0  # Shift VV and VH by one offset in [-level_shift_db, +] dB.
  aug.level_shift_db = 0.0  # Largest backscatter level shift in dB.
  aug.speckle_probability = 0.0  # Extra multiplicative Gamma speckle with this many looks.
  aug.speckle_looks = 8.0  # Equivalent number of looks of the extra speckle (higher = milder).


def _model_fields(config: ml_collections.ConfigDict) -> None:
  """config.model: the architecture."""
  model = config.model = ml_collections.ConfigDict()
  model.name = "resunet"  # Architecture: a module of flood_jax/models, or a dotted module path.
  model.filters = (64, 128, 256, 512)  # Encoder widths; the bottleneck is the last.
  model.residual = True  # Residual blocks (ResUNet) instead of plain double convolutions.
  model.channel_attention = True  # Squeeze-and-excitation in every block.
  model.spatial_attention = False  # Spatial attention (CBAM-style) on the skips.
  model.attention_gates = True  # Attention gates on the skips (Attention U-Net).
  model.se_reduction = 16  # Squeeze-and-excitation reduction ratio.
  model.dropout = 0.1  # Dropout rate in the bottleneck, in [0, 1).
  model.dtype = "float32"  # Compute dtype ("float32" or "bfloat16"); parameters stay float32.
  # Convolutions through flood_jax/models/conv.py: lax's parameters and results, faster on CPU
  # (benchmarks/README.md). False uses lax.conv_general_dilated and nn.ConvTranspose throughout.
  model.fast_convolutions = True  # False: the library's convolutions (for comparison).


def _loss_fields(config: ml_collections.ConfigDict) -> None:
  """config.loss: the weighted terms and their parameters."""
  loss = config.loss = ml_collections.ConfigDict()
  loss.terms = {"focal_tversky": 1.0}  # Weighted sum of losses {name: weight} (losses.LOSSES).
  loss.tversky_alpha = TVERSKY_ALPHA  # Weight of false negatives in the Tversky index, >= 0.
  loss.tversky_beta = TVERSKY_BETA  # Weight of false positives, >= 0 (alpha + beta > 0).
  loss.focal_tversky_gamma = FOCAL_TVERSKY_GAMMA  # loss = (1 - TI) ** (1 / gamma), gamma > 0.
  loss.focal_gamma = FOCAL_GAMMA  # Exponent of the focal loss (Lin et al.), >= 0.
  # Class weight of water pixels in cross-entropy and focal losses: a number, or "auto" for the
  # balanced weight of the training pixels (class_weights.json, written by preprocessing).
  loss.water_weight = ml_collections.FieldReference(1.0, field_type=object)  # number or "auto"


def _optimizer_fields(config: ml_collections.ConfigDict) -> None:
  """config.optimizer: the optimiser and its SGDR schedule."""
  opt = config.optimizer = ml_collections.ConfigDict()
  opt.name = "adamw"  # "adam", "adamw" or "sgd" (momentum 0.9).
  opt.learning_rate = 1e-3  # Peak learning rate of each cosine cycle (> 0).
  opt.min_learning_rate = 1e-6  # Learning rate at the end of each cycle.
  opt.warmup_steps = 100  # Linear warm-up at the start of each cycle, in steps.
  opt.first_period = 1000  # Length of the first cosine cycle in steps (SGDR T_0).
  opt.period_multiplier = 2  # Each cycle is this many times longer than the previous (T_mult).
  opt.weight_decay = 1e-4  # Decoupled weight decay (adamw only).
  opt.grad_clip_norm = 1.0  # Clip the global gradient norm; 0 disables.


def _loop_fields(config: ml_collections.ConfigDict) -> None:
  """The training loop: batches, steps, evaluation, early stopping, threshold."""
  config.batch_size = 16  # Global batch (all devices, all hosts); divisible by device count.
  config.num_train_steps = 10_000  # Upper bound on steps; early stopping may end sooner.
  config.eval_every_steps = 500  # Validation (and checkpoint) period in steps.
  config.eval_batch_size = 16  # Global batch for evaluation.
  config.early_stopping_patience = 6  # Stop after this many evaluations without better IoU.
  config.log_every_steps = 50  # Progress line and training scalars period.
  config.num_sample_images = 4  # Validation predictions written to TensorBoard.
  config.nonfinite = "stop"  # Non-finite loss or gradient: "stop" (error) or "skip" the step.
  config.threshold = 0.5  # Water probability above which a pixel is water, in training metrics.
  # After training, choose the threshold that maximises validation IoU (saved in threshold.json
  # and in exported models, used by evaluate and predict); False keeps config.threshold.
  config.calibrate_threshold = True  # True: calibrated threshold; False: config.threshold.


def _predict_fields(config: ml_collections.ConfigDict) -> None:
  """config.predict: whole-scene prediction and the map rules."""
  predict = config.predict = ml_collections.ConfigDict()
  # 512-px windows recompute 1.3x the scene where 256-px ones recompute 1.8x (the overlaps):
  # scene prediction ran 1.4-1.7x faster in about the same memory, with the same IoU (docs/speed.md).
  predict.tile_size = 512  # Window side in pixels for scene inference.
  predict.overlap = 64  # Overlap between windows, blended with smooth weights.
  predict.batch_size = 2  # Windows per inference batch (2 was faster than 4 or 8 on 2 cores).
  predict.min_area_m2 = 0.0  # Water patches smaller than this (m²) become dry; 0 keeps all.
  predict.test_time_flips = False  # Average the model over 4 flips of each window (4x slower).
  # Backscatter caps (ASF's HyP3 water map caps its thresholds at VV -15.5 dB, VH -23 dB): water
  # only where VV <= max_water_vv_db or VH <= max_water_vh_db (dB); None leaves a band uncapped,
  # both None: no cap. A trade, not a fix: bright flood water (flooded vegetation) is lost.
  predict.max_water_vv_db = ml_collections.config_dict.placeholder(float)  # dB, or None: no cap
  predict.max_water_vh_db = ml_collections.config_dict.placeholder(float)  # dB, or None: no cap


def _evaluate_fields(config: ml_collections.ConfigDict) -> None:
  """config.evaluate: evaluation reports."""
  evaluate = config.evaluate = ml_collections.ConfigDict()
  evaluate.num_panels = 4  # Sample panels per source in reports.
  # Evaluators by name: {name: {"type": TYPE, **options}} (flood_jax.evaluation.registry: scores,
  # per_image, samples, official, or module:Class); `evaluate` runs them beside its report's,
  # training too at its evaluation steps where "during_training": True (on the "split" chips).
  config.evals = ml_collections.ConfigDict()  # {} by default: the report's evaluators alone.


def check_optimizer(opt: ml_collections.ConfigDict) -> None:
  if not opt.learning_rate > 0:
    raise ConfigError(f"config.optimizer.learning_rate={opt.learning_rate} must be > 0")
  if opt.min_learning_rate < 0 or opt.min_learning_rate > opt.learning_rate:
    raise ConfigError(
      f"config.optimizer.min_learning_rate={opt.min_learning_rate} must be in [0, learning_rate]"
    )
  if opt.name not in ("adam", "adamw", "sgd"):
    raise ConfigError(f"config.optimizer.name={opt.name!r} must be 'adam', 'adamw' or 'sgd'")
  if opt.first_period < 1 or opt.period_multiplier < 1:
    raise ConfigError("config.optimizer.first_period and period_multiplier must be >= 1")


def check_tile_sizes(config: ml_collections.ConfigDict) -> None:
  """Tiles and prediction windows must pass through every pooling level."""
  levels = len(config.model.filters) - 1
  for name, size in (
    ("data.tile_size", config.data.tile_size),
    ("predict.tile_size", config.predict.tile_size),
  ):
    if size <= 0 or size % 2**levels:
      raise ConfigError(
        f"config.{name}={size} cannot pass through {levels + 1} filter levels: "
        f"use a multiple of {2**levels}"
      )
  check_tile_stride(config.data)


def check_tile_stride(data: ml_collections.ConfigDict) -> None:
  if not 0 < data.tile_stride <= data.tile_size:
    raise ConfigError(
      f"config.data.tile_stride={data.tile_stride} must be in (0, data.tile_size={data.tile_size}]"
    )


def check_weak_fraction(data: ml_collections.ConfigDict) -> None:
  if not 0.0 <= data.weak_fraction <= 1.0:
    raise ConfigError(f"config.data.weak_fraction={data.weak_fraction} must be in [0, 1]")


def check_divisible(name: str, size: int, parts: int, what: str) -> None:
  """`config.<name>` must split evenly over `parts` devices or processes."""
  if size % parts:
    raise ConfigError(
      f"config.{name}={size} is not divisible by the {parts} {what}; use a multiple of {parts}"
    )


def check_batch_rows(batch_size: int, rows: int, source: str, processes: int) -> None:
  """The hand or weak rows of each global batch must split evenly over the processes."""
  if rows % processes:
    raise ConfigError(
      f"config.batch_size={batch_size} gives {rows} {source} rows per batch, which {processes} "
      "processes cannot share evenly; change batch_size or data.weak_fraction"
    )


def check_loop(config: ml_collections.ConfigDict) -> None:
  water_weight = config.loss.water_weight
  if water_weight != "auto" and not (isinstance(water_weight, (int, float)) and water_weight > 0):
    raise ConfigError(f"config.loss.water_weight={water_weight!r} must be > 0 or 'auto'")
  if config.nonfinite not in ("stop", "skip"):
    raise ConfigError(f"config.nonfinite={config.nonfinite!r} must be 'stop' or 'skip'")
  if not 0 < config.threshold < 1:
    raise ConfigError(f"config.threshold={config.threshold} must be in (0, 1)")
  if config.num_train_steps < 1 or config.eval_every_steps < 1 or config.log_every_steps < 1:
    raise ConfigError("config.num_train_steps, eval_every_steps and log_every_steps must be >= 1")
  if config.batch_size < 1:
    raise ConfigError(f"config.batch_size={config.batch_size} must be >= 1")


def check_probabilities(config: ml_collections.ConfigDict) -> None:
  """Every probability or share of the config in [0, 1]."""
  for name in PROBABILITIES:
    section, field = name.split(".")
    value = config[section][field]
    if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
      raise ConfigError(f"config.{name}={value!r} must be in [0, 1]")
  if not 0.0 <= config.model.dropout < 1.0:
    raise ConfigError(f"config.model.dropout={config.model.dropout} must be in [0, 1)")


def check_real(data: ml_collections.ConfigDict) -> None:
  """Real chips' label weights finite and >= 0."""
  for name in ("real_hand_weight", "real_weak_weight"):
    weight = data[name]
    if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight >= 0):
      raise ConfigError(f"config.data.{name}={weight!r} must be a finite number >= 0")


def check_loss_parameters(loss: ml_collections.ConfigDict) -> None:
  """The losses' parameters in their ranges: a negative or NaN one would train on nonsense."""
  ranges = {
    "tversky_alpha": (lambda value: value >= 0, ">= 0"),
    "tversky_beta": (lambda value: value >= 0, ">= 0"),
    "focal_tversky_gamma": (lambda value: value > 0, "> 0"),
    "focal_gamma": (lambda value: value >= 0, ">= 0"),
  }
  for name, (allowed, words) in ranges.items():
    value = loss[name]
    if not (isinstance(value, (int, float)) and math.isfinite(value) and allowed(value)):
      raise ConfigError(f"config.loss.{name}={value!r} must be a finite number {words}")
  if not loss.tversky_alpha + loss.tversky_beta > 0:
    raise ConfigError("config.loss.tversky_alpha + tversky_beta must be > 0")


def check_loss_weights(loss: ml_collections.ConfigDict) -> None:
  """Each term's weight a finite number >= 0, and at least one > 0."""
  weights = dict(loss.terms)
  for name, weight in weights.items():
    if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight >= 0):
      raise ConfigError(f"config.loss.terms[{name!r}]={weight!r} must be a finite number >= 0")
  if not any(weight > 0 for weight in weights.values()):
    raise ConfigError(f"config.loss.terms={weights}: at least one weight must be > 0")


def check_predict(predict: ml_collections.ConfigDict) -> None:
  """The whole-scene fields: windows, minimum mapping unit and backscatter caps."""
  check_tiling(predict.tile_size, predict.overlap, predict.batch_size)
  if not predict.min_area_m2 >= 0:
    raise ConfigError(f"config.predict.min_area_m2={predict.min_area_m2} must be >= 0")
  for name in ("max_water_vv_db", "max_water_vh_db"):
    cap = predict[name]
    if cap is not None and not (isinstance(cap, (int, float)) and math.isfinite(cap)):
      raise ConfigError(f"config.predict.{name}={cap!r} must be a number of dB or None")


def check_values(config: ml_collections.ConfigDict) -> None:
  """Every check of a config's values that needs nothing but the config."""
  check_optimizer(config.optimizer)
  check_tile_sizes(config)
  check_probabilities(config)
  check_real(config.data)
  check_loss_weights(config.loss)
  check_loss_parameters(config.loss)
  check_loop(config)
  check_predict(config.predict)


WHOLE_VALUES = (
  "config.loss.terms",
  "config.evals",
)  # mappings that are one field's value, not a section


def merged(defaults: ml_collections.ConfigDict, stored: dict, where: str = "config"):
  """`defaults` with every value of `stored` put in (sections merged field by field)."""
  for key, value in stored.items():
    if (
      f"{where}.{key}" not in WHOLE_VALUES
      and isinstance(value, dict)
      and key in defaults
      and isinstance(defaults[key], ml_collections.ConfigDict)
    ):
      merged(defaults[key], value, f"{where}.{key}")
    else:
      try:
        defaults[key] = tuple(value) if isinstance(value, list) else value
      except TypeError as error:  # a stored value of another type than the default's
        raise ConfigError(f"{where}.{key}={value!r}: {error}") from None
  return defaults


def load_config(source: str | Path | dict, where: str | None = None) -> ml_collections.ConfigDict:
  """A stored config merged onto `default_config()` and checked: a dict (read from `where`,
  which its errors name), a .json file, a training workdir (its config.json) or a model folder
  (the config in its model.json)."""
  if isinstance(source, dict):
    return _checked(merged(default_config(), source), where)
  path = Path(source)
  if path.is_dir():
    path = path / ("model.json" if (path / "model.json").is_file() else "config.json")
  try:
    stored = json.loads(path.read_text())
  except (OSError, ValueError) as error:
    raise DataError(f"{path}: cannot read a config ({error})") from None
  stored = stored["config"] if path.name == "model.json" else stored
  return _checked(merged(default_config(), stored), str(path))


def _checked(config: ml_collections.ConfigDict, where: str | None) -> ml_collections.ConfigDict:
  """`config` once its values pass; a failure names `where` it was read from."""
  try:
    check_values(config)
  except ConfigError as error:
    if where is None:
      raise
    raise ConfigError(f"{where}: {error}") from None
  return config
