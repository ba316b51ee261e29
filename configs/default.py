"""Default configuration: every field of flood_jax, documented once.

Variants (`best.py`, `demo.py`, `test.py`) import this file and change a few fields. Any field
can be overridden from the command line, e.g. `--config.optimizer.learning_rate=3e-4`, and the
ablations are arguments of a config file (see `apply_arg`):

    --config=configs/best.py:model=resunet_se,loss=dice
"""

import ml_collections

from flood_jax.errors import ConfigError
from flood_jax.training.losses import LOSSES
from flood_jax.models import MODEL_VARIANTS


def apply_arg(config: ml_collections.ConfigDict, arg: str | None) -> ml_collections.ConfigDict:
  """Applies a config argument `key=value,...`: `model=<variant>` (MODEL_VARIANTS) sets the
  architecture switches, `loss=<name>` (losses.LOSSES) trains with that loss alone."""
  for item in filter(None, (arg or "").split(",")):
    key, _, value = item.partition("=")
    if key == "model" and value in MODEL_VARIANTS:
      config.model.update(MODEL_VARIANTS[value])
    elif key == "loss" and value in LOSSES:
      config.loss.terms = {value: 1.0}  # that loss alone
    else:
      raise ConfigError(
        f"config argument {item!r}: expected model=<{'|'.join(MODEL_VARIANTS)}> or "
        f"loss=<{'|'.join(LOSSES)}>, separated by commas"
      )
  return config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0  # Seeds parameters, shuffling and augmentation; same seed, same run.

  # ---- data -------------------------------------------------------------------------------
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
  data.num_threads = 2  # grain threads reading and augmenting tiles (per process).
  data.prefetch = 4  # Batches grain prepares ahead.
  # Synthetic data generated when data.root is "" (see flood_jax.dataset.synthetic).
  data.synthetic_hand = 60  # Hand-labelled synthetic chips (10% Bolivia, 60/20/20 of the rest).
  data.synthetic_weak = 60  # Weak synthetic chips.
  data.synthetic_dark_fields = 0.0  # Largest share of dark smooth dry parcels per chip, [0, 1].

  # ---- augmentation (training only; each probability in [0, 1]) -------------------------
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

  # ---- model ------------------------------------------------------------------------------
  model = config.model = ml_collections.ConfigDict()
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

  # ---- loss -------------------------------------------------------------------------------
  loss = config.loss = ml_collections.ConfigDict()
  loss.terms = {"focal_tversky": 1.0}  # Weighted sum of losses {name: weight} (losses.LOSSES).
  loss.tversky_alpha = 0.7  # Weight of false negatives in the Tversky index (Abraham & Khan).
  loss.tversky_beta = 0.3  # Weight of false positives.
  loss.focal_tversky_gamma = 4.0 / 3.0  # loss = (1 - TI) ** (1 / gamma), as Abraham & Khan.
  loss.focal_gamma = 2.0  # Exponent of the focal loss (Lin et al.).
  # Class weight of water pixels in cross-entropy and focal losses: a number, or "auto" for the
  # balanced weight of the training pixels (class_weights.json, written by preprocessing).
  loss.water_weight = ml_collections.FieldReference(1.0, field_type=object)  # number or "auto"

  # ---- optimiser and SGDR schedule --------------------------------------------------------
  opt = config.optimizer = ml_collections.ConfigDict()
  opt.name = "adamw"  # "adam", "adamw" or "sgd" (momentum 0.9).
  opt.learning_rate = 1e-3  # Peak learning rate of each cosine cycle (> 0).
  opt.min_learning_rate = 1e-6  # Learning rate at the end of each cycle.
  opt.warmup_steps = 100  # Linear warm-up at the start of each cycle, in steps.
  opt.first_period = 1000  # Length of the first cosine cycle in steps (SGDR T_0).
  opt.period_multiplier = 2  # Each cycle is this many times longer than the previous (T_mult).
  opt.weight_decay = 1e-4  # Decoupled weight decay (adamw only).
  opt.grad_clip_norm = 1.0  # Clip the global gradient norm; 0 disables.

  # ---- training loop ----------------------------------------------------------------------
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

  # ---- prediction of whole scenes ----------------------------------------------------------
  predict = config.predict = ml_collections.ConfigDict()
  # 512-px windows recompute 1.3x the scene where 256-px ones recompute 1.8x (the overlaps):
  # scene prediction ran 1.4-1.7x faster in about the same memory, with the same IoU (README).
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

  # ---- evaluation reports -------------------------------------------------------------------
  evaluate = config.evaluate = ml_collections.ConfigDict()
  evaluate.num_panels = 4  # Sample panels per source in reports.
  return apply_arg(config, arg)
