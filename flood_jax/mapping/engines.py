"""Inference engines: what turns normalised windows into water probabilities.

An engine is called as `engine(images)` with float32 [B, T, T, 3] and returns float32 [B, T, T].
`TrainedModel` holds one and knows nothing of how it runs; each is chosen once, when the model
is loaded.

- `XlaEngine`: the Flax model jitted by XLA (any device JAX sees; the training workdir's path).
- `OnnxRuntimeEngine`: an exported model folder's ONNX model, float32 or int8, on ONNX Runtime
  (the fast CPU path; see `flood_jax.export`).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np


class XlaEngine:
  """The Flax model and its variables, jitted (one compilation per batch shape)."""

  name, precision = "xla", "float32"

  def __init__(self, model, variables: dict):
    import jax

    self._jnp = jax.numpy
    self._apply = jax.jit(
      lambda variables, images: jax.nn.sigmoid(model.apply(variables, images, train=False)[..., 0])
    )
    self._variables = variables

  def __call__(self, images: np.ndarray) -> np.ndarray:
    return np.asarray(self._apply(self._variables, self._jnp.asarray(images)))


def accelerator_present() -> bool:
  """Whether JAX sees a GPU or TPU, asked of JAX only where one could be there: JAX already
  imported, or an accelerator plugin (CUDA, ROCm, TPU) installed; so on a plain CPU install
  choosing the engine imports neither jax nor flax."""
  if os.environ.get("JAX_PLATFORMS", "").strip().lower() == "cpu":
    return False
  plugins = importlib.metadata.entry_points(group="jax_plugins")
  installed = bool(plugins) or any(
    importlib.util.find_spec(name) is not None for name in ("jax_plugins", "libtpu")
  )
  if "jax" not in sys.modules and not installed:
    return False
  import jax

  return jax.devices()[0].platform != "cpu"


def available_cores() -> int:
  """CPU cores this process may use (its affinity, which containers and schedulers set)."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # not on Linux
    return os.cpu_count() or 1


class OnnxRuntimeEngine:
  """An ONNX model on ONNX Runtime's CPU provider, `threads` intra-op threads (default: the
  cores this process may use). Exported windows have a fixed size, `tile_size`."""

  name = "onnxruntime"

  def __init__(self, model: bytes | str | Path, precision: str, threads: int | None = None):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or available_cores()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # jax2onnx's shape annotations make ORT warn harmlessly
    source = str(model) if isinstance(model, Path) else model
    self.session = onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    self.precision = precision
    self.input_name = self.session.get_inputs()[0].name
    self.tile_size = self.session.get_inputs()[0].shape[1]

  def __call__(self, images: np.ndarray) -> np.ndarray:
    feed = {self.input_name: np.ascontiguousarray(images, np.float32)}
    return self.session.run(None, feed)[0]


class FlipAveraged:
  """Test-time augmentation: the mean of an engine's probabilities over the image and its
  horizontal, vertical and double flips (4x the work)."""

  def __init__(self, engine):
    self.engine = engine
    self.name, self.precision = engine.name, f"{engine.precision}, 4 flips averaged"
    self.tile_size = getattr(engine, "tile_size", None)

  def __call__(self, images: np.ndarray) -> np.ndarray:
    total = np.zeros(images.shape[:3], np.float32)
    for rows, cols in ((False, False), (True, False), (False, True), (True, True)):
      flipped = images[:, ::-1] if rows else images
      flipped = flipped[:, :, ::-1] if cols else flipped
      probability = self.engine(np.ascontiguousarray(flipped))
      probability = probability[:, ::-1] if rows else probability
      total += probability[:, :, ::-1] if cols else probability
    return total / 4
