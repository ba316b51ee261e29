"""A training workdir written as a checked model folder: float32 and int8 ONNX, variables, card."""

from __future__ import annotations

import contextlib
import io
import tempfile
from importlib.metadata import version
from pathlib import Path

import flax.serialization
import jax
import numpy as np
from absl import logging

from flood_jax.core.model_folder import FILES, write_folder
from flood_jax.dataset.catalog import build_catalog, read_record
from flood_jax.errors import DataError, UsageError
from flood_jax.evaluation.evaluators import Scores
from flood_jax.export import onnx_graph
from flood_jax.mapping.engines import OnnxRuntimeEngine
from flood_jax.mapping.inference import TrainedModel
from flood_jax.mapping.loading import load_trained
from flood_jax.training.restore import training_data_root, workdir_parts

FLOAT32_TOLERANCE = 1e-5
INT8_IOU_DROP = 0.01
# Quantised operations: the convolutions and matrix products, the elementwise operations between
# them, and the pooling and data movement of the rewritten graph (`onnx_graph`), so that
# activations stay in int8 from one convolution to the next. Measured on the demo model (batch 2
# of 512 px, 2-core AVX-512 VNNI), with the graph rewritten: 18.0-18.4 images/s, against
# 15.3-17.3 with Transpose left in float32.
QUANTIZED_OPERATIONS = [
  "Conv", "MatMul", "Gemm", "Relu", "Add", "Mul", "Concat", "Sigmoid",
  "MaxPool", "GlobalAveragePool", "Transpose", "Flatten", "Expand",
]  # fmt: skip
# Activation ranges: the 99.99th percentile of each tensor's histogram over the calibration
# windows, the histograms merged one window at a time (ORT's strided calibration; collecting
# every window's activations at once took 8 GB). Demo model, 32 windows, water IoU through int8
# on the real chips (XLA float32: 0.560) and on the synthetic validation chips (0.890):
# percentile 99.99 0.559 / 0.890, 99.9 0.558 / 0.889, 99.999 0.546 / 0.879; min and max as a
# moving average over windows 0.550 / 0.890 (plain min and max cost 0.015-0.025, entropy 0.025).
CALIBRATION_METHOD = "Percentile"
CALIBRATION_OPTIONS = {"CalibPercentile": 99.99, "CalibStridedMinMax": 1}


def onnx_float32(model: TrainedModel, tile_size: int) -> bytes:
  """The model's water probability as ONNX: input `image` [B, T, T, 3], output [B, T, T]; batch
  norm folded and the graph rewritten for ONNX Runtime (`onnx_graph`)."""
  return onnx_graph.for_onnx_runtime(fold_batch_norm(traced_onnx(model, tile_size)))


def traced_onnx(model: TrainedModel, tile_size: int) -> bytes:
  """The Flax model's probability as jax2onnx writes it, op for op."""

  def probability(images):
    logits = model.model.apply(model.variables, images, train=False)
    return jax.nn.sigmoid(logits[..., 0])

  # jax2onnx 0.13.0 prints debug lines per convolution on stdout, logs a traceback for each of
  # its plugins that cannot import under jax 0.10, and onnx_ir a warning per shape constant.
  with contextlib.redirect_stdout(io.StringIO()), _only_errors("jax2onnx", "onnx_ir"):
    from jax2onnx import to_onnx

    proto = to_onnx(
      probability,
      [("B", tile_size, tile_size, 3)],
      model_name="flood_jax",
      input_names=["image"],
      output_names=["probability"],
    )
  return proto.SerializeToString()


@contextlib.contextmanager
def _only_errors(*names: str | None):
  """Python loggers `names` (None: the root logger) pass only errors within the context."""
  import logging as python_logging

  loggers = [python_logging.getLogger(name) for name in names]
  levels = [logger.level for logger in loggers]
  for logger in loggers:
    logger.setLevel(python_logging.ERROR)
  try:
    yield
  finally:
    for logger, level in zip(loggers, levels, strict=True):
      logger.setLevel(level)


def fold_batch_norm(onnx_model: bytes) -> bytes:
  """ONNX Runtime's basic graph optimisations, which are hardware independent: constant folding
  and batch normalisation fused into the convolution before it."""
  import onnxruntime

  with tempfile.TemporaryDirectory() as scratch:
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(Path(scratch) / "folded.onnx")
    options.log_severity_level = 3
    onnxruntime.InferenceSession(onnx_model, options, providers=["CPUExecutionProvider"])
    return (Path(scratch) / "folded.onnx").read_bytes()


def calibration_windows(
  model: TrainedModel, root: Path, tile_size: int, count: int, seed: int = 0
) -> list[np.ndarray]:
  """[1, T, T, 3] normalised windows at random places of `count` training chips (hand and weak)."""
  records = build_catalog(root, ("train",), use_weak=True)
  if not records:
    raise DataError(f"{root}: no training chip to calibrate the int8 model on")
  rng = np.random.default_rng(seed)
  windows = []
  for index in rng.choice(len(records), min(count, len(records)), replace=False):
    chip = read_record(records[index])
    image, _ = model.normalised_input(chip.vv_vh_db)
    height, width = max(image.shape[0], tile_size), max(image.shape[1], tile_size)
    padded = np.zeros((height, width, 3), np.float32)
    padded[: image.shape[0], : image.shape[1]] = image
    top, left = rng.integers(0, height - tile_size + 1), rng.integers(0, width - tile_size + 1)
    windows.append(padded[None, top : top + tile_size, left : left + tile_size])
  return windows


def quantize_int8(float32: bytes, windows: list[np.ndarray]) -> bytes:
  """Static int8 quantisation (QDQ, per-channel weights) calibrated on `windows`."""
  from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
  )

  class Windows(CalibrationDataReader):
    """The windows, in the ranges ORT's strided calibration asks for."""

    def __init__(self):
      self.set_range(0, len(windows))

    def __len__(self):
      return len(windows)

    def set_range(self, start_index: int, end_index: int) -> None:
      self.items = iter({"image": window} for window in windows[start_index:end_index])

    def get_next(self):
      return next(self.items, None)

  with tempfile.TemporaryDirectory() as scratch:
    source, target = Path(scratch) / "float32.onnx", Path(scratch) / "int8.onnx"
    source.write_bytes(float32)
    # ORT prints a line per calibration window, and advice on the root logger.
    with contextlib.redirect_stdout(io.StringIO()), _only_errors(None):
      quantize_static(
        source,
        target,
        Windows(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=QUANTIZED_OPERATIONS,
        calibrate_method=getattr(CalibrationMethod, CALIBRATION_METHOD),
        extra_options=CALIBRATION_OPTIONS,
      )
    return target.read_bytes()


def float32_difference(model: TrainedModel, engine: OnnxRuntimeEngine, seed: int = 0) -> float:
  """Largest |ONNX - Flax| probability over random windows in batches of 1 and 3."""
  rng = np.random.default_rng(seed)
  largest = 0.0
  for batch in (1, 3):
    images = rng.normal(size=(batch, engine.tile_size, engine.tile_size, 3)).astype(np.float32)
    largest = max(largest, float(np.abs(engine(images) - model.probabilities(images)).max()))
  return largest


def validation_iou(model: TrainedModel, root: Path) -> float:
  """Water IoU of `model` on the validation chips of `root` (whole chips, summed matrices)."""
  from flood_jax.evaluation.chips import chip_results, run_evaluators

  records = build_catalog(root, ("valid",), use_weak=False)
  if not records:
    raise DataError(f"{root}: no validation chip to check the int8 model on")
  results = run_evaluators(chip_results(model, records), [Scores()])
  return results["model"]["overall"]["iou"]


def checked_int8(model: TrainedModel, float32: bytes, root: Path, windows: int) -> tuple:
  """(int8 bytes or None, the check's figures): int8 is kept only if its validation IoU is
  within INT8_IOU_DROP of float32's."""
  int8 = quantize_int8(float32, calibration_windows(model, root, model.tiling()[0], windows))
  ious = {
    precision: validation_iou(model.with_engine(OnnxRuntimeEngine(onnx, precision)), root)
    for precision, onnx in (("float32", float32), ("int8", int8))
  }
  passed = abs(ious["int8"] - ious["float32"]) <= INT8_IOU_DROP
  check = {
    "valid_iou_float32": ious["float32"],
    "valid_iou_int8": ious["int8"],
    "max_iou_drop": INT8_IOU_DROP,
    "passed": passed,
    "calibration_windows": windows,
    "calibration": {"method": CALIBRATION_METHOD, **CALIBRATION_OPTIONS},
  }
  logging.info(
    "int8 check: validation IoU %.4f (float32 %.4f): %s",
    ious["int8"],
    ious["float32"],
    "passed" if passed else "failed; int8 not written",
  )
  return (int8 if passed else None), check


def model_card(model: TrainedModel, workdir: Path, root: Path, checks: dict) -> dict:
  """Everything a user of the folder needs to map floods with it, and to know what it is."""
  import json

  results = workdir / "results.json"
  config = model.config
  return {
    "format": "flood_jax model folder 1",
    "flood_jax": version("flood_jax"),
    "exported_with": {
      "jax": jax.__version__,
      "jax2onnx": version("jax2onnx"),
      "onnxruntime": version("onnxruntime"),
    },
    "config": config.to_dict(),
    "stats": model.stats,
    "threshold": model.threshold,
    "input": {
      "bands": ["VV", "VH"],
      "scale": "db",
      "band_domain": config.data.band_domain,
      "pixel_size_m": config.data.pixel_size_m,
      "band_formulas": ["VV", "(VH - VV) / (VH + VV)", "sqrt((VH^2 + VV^2) / 2)"],
    },
    "window": {"tile_size": model.tiling()[0], "dynamic": ["batch"]},
    "training_data": {
      "root": _as_given(root),
      "workdir": _as_given(workdir),
      "real_roots": [_as_given(Path(real)) for real in config.data.get("real_roots", ())],
    },
    "metrics": json.loads(results.read_text()) if results.exists() else {},
    "checks": checks,
  }


def _as_given(path: Path) -> str:
  """`path` relative to the working directory where it lies below it (a folder that ships, like
  the bundled model, should not carry the build machine's absolute paths), else absolute."""
  path = Path(path).absolute()
  try:
    return str(path.relative_to(Path.cwd()))
  except ValueError:
    return str(path)


def export(
  workdir: str | Path, output: str | Path, windows: int = 32, overwrite: bool = False
) -> dict:
  """Writes the model folder of `workdir`'s best checkpoint to `output`; returns model.json."""
  workdir, output = Path(workdir), Path(output)
  if output.exists() and not overwrite:  # before minutes of work, not after
    raise UsageError(f"{output}: already exists; pass --overwrite to replace it")
  model = load_trained(workdir, workdir_parts=workdir_parts)
  root = training_data_root(workdir, model.config)
  float32 = onnx_float32(model, model.tiling()[0])
  difference = float32_difference(model, OnnxRuntimeEngine(float32, "float32"))
  if difference > FLOAT32_TOLERANCE:
    raise DataError(
      f"{workdir}: the ONNX export differs from the Flax model by {difference:.2e} in "
      f"probability (allowed {FLOAT32_TOLERANCE:.0e}); nothing written"
    )
  int8, int8_check = checked_int8(model, float32, root, windows)
  files = {
    FILES["float32"]: float32,
    FILES["variables"]: flax.serialization.to_bytes(jax.device_get(model.variables)),
  }
  if int8 is not None:
    files[FILES["int8"]] = int8
  checks = {
    "float32_max_difference": difference,
    "float32_tolerance": FLOAT32_TOLERANCE,
    "int8": int8_check,
  }
  card = model_card(model, workdir, root, checks)
  write_folder(output, files, card, overwrite)
  return card
