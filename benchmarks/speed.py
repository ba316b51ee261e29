"""Training and inference speed of a config on this machine.

    python -m benchmarks.speed --config=configs/best.py --batch_size=4 [--steps=3]
    python -m benchmarks.speed --config=configs/best.py --batch_size=4 --engine=onnxruntime \
        --precision=int8

Prints one line per figure: images/s, achieved GFLOP/s (from XLA's cost analysis of the compiled
step) and its fraction of a float32 matmul's GFLOP/s measured in the same process, then, as the
last line, one JSON object. With --engine=onnxruntime the config's model (random weights) is
exported as `flood_jax.export` does and only inference is timed; int8 is calibrated on random
windows, which says nothing of its accuracy (model folders are calibrated on training chips and
checked on validation chips, see flood_jax.export). The peers in ../shared/peers (Keras, PyTorch) print images/s for the
same network; run them in their own environments in the same session and compare ratios
(benchmarks/README.md).
"""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path

import flax
import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags
from ml_collections import config_flags

from flood_jax.training import parallel
from flood_jax.training.train import Trainer

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", "configs/best.py", "Config to measure.")
flags.DEFINE_integer("batch_size", 4, "Images per step.")
flags.DEFINE_integer("tile_size", None, "Image side (default: config.data.tile_size).")
flags.DEFINE_integer("steps", 3, "Timed steps after one warm-up step.")
flags.DEFINE_enum("engine", "xla", ["xla", "onnxruntime"], "Inference engine to time.")
flags.DEFINE_enum("precision", "float32", ["float32", "int8"], "ONNX Runtime's model.")


def _flops(compiled) -> float:
  analysis = compiled.cost_analysis()
  if isinstance(analysis, list):
    analysis = analysis[0]
  return float(analysis.get("flops", float("nan")))


def _cpu_name() -> str:
  try:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith("model name"):
        return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return "unknown"


def matmul_gflops(size: int = 2048, repeats: int = 10) -> float:
  a = jnp.ones((size, size), jnp.float32)
  matmul = jax.jit(lambda x, y: x @ y)
  matmul(a, a).block_until_ready()
  start = time.perf_counter()
  for _ in range(repeats):
    result = matmul(a, a)
  result.block_until_ready()
  return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def timed(function, *args, steps: int):
  output = function(*args)
  jax.block_until_ready(output)
  start = time.perf_counter()
  for _ in range(steps):
    output = function(*args)
  jax.block_until_ready(output)
  return (time.perf_counter() - start) / steps


def onnx_inference(trainer: Trainer, state, batch: int, size: int) -> float:
  """Inference images/s of the model exported to ONNX and run by ONNX Runtime."""
  from flood_jax.export import exporter as export
  from flood_jax.mapping.engines import OnnxRuntimeEngine, XlaEngine
  from flood_jax.mapping.inference import FlaxWeights, TrainedModel

  variables = jax.device_get({"params": state.params, "batch_stats": state.batch_stats})
  stats = {"mean": [0.0] * 3, "std": [1.0] * 3}
  engine = XlaEngine(trainer.model, variables)
  weights = FlaxWeights(lambda: (trainer.model, variables))
  model = TrainedModel(trainer.config, stats, engine, flax=weights)
  onnx_model = export.onnx_float32(model, size)
  rng = np.random.default_rng(0)
  if FLAGS.precision == "int8":
    windows = [rng.normal(size=(1, size, size, 3)).astype(np.float32) for _ in range(8)]
    onnx_model = export.quantize_int8(onnx_model, windows)
  engine = OnnxRuntimeEngine(onnx_model, FLAGS.precision)
  images = rng.normal(size=(batch, size, size, 3)).astype(np.float32)
  seconds = timed(engine, images, steps=FLAGS.steps)
  print(
    f"infer ({FLAGS.engine} {FLAGS.precision}, {engine.session.get_session_options().intra_op_num_threads} threads): {batch / seconds:.3f} images/s"
  )
  return batch / seconds


def main(argv) -> None:
  del argv
  config = FLAGS.config
  size = FLAGS.tile_size or config.data.tile_size
  batch = FLAGS.batch_size
  config.data.tile_size = config.predict.tile_size = size
  config.batch_size = config.eval_batch_size = batch
  print(f"jax {jax.__version__}, flax {flax.__version__}, devices {jax.devices()}")
  print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
  print(f"model {dict(config.model)}; batch {batch} of {size}x{size}")
  print(f"cpu: {_cpu_name()}, {os.cpu_count()} logical cores")
  peak = matmul_gflops()
  print(f"float32 2048x2048 matmul: {peak:.1f} GFLOP/s")

  trainer = Trainer(config)
  state = trainer.replicate(trainer.initial_state())
  if FLAGS.engine == "onnxruntime":
    images_per_s = onnx_inference(trainer, state, batch, size)
    print(json.dumps({
      "train_images_per_s": None, "infer_images_per_s": round(images_per_s, 4),
      "matmul_gflops_per_s": round(peak, 1), "batch_size": batch, "tile_size": size,
      "engine": FLAGS.engine, "precision": FLAGS.precision, "jax": jax.__version__,
    }))  # fmt: skip
    return
  rng = np.random.default_rng(0)
  host_batch = {
    "image": rng.normal(size=(batch, size, size, 3)).astype(np.float32),
    "label": (rng.uniform(size=(batch, size, size, 1)) > 0.5).astype(np.float32),
    "validity": np.ones((batch, size, size, 1), bool),
  }
  device_batch = parallel.global_batch(host_batch, trainer.mesh)
  # The network's arithmetic, counted on the library path: XLA's cost analysis counts a loop
  # body once, so it would undercount models/conv.py's banded weight gradient.
  library_config = copy.deepcopy(config)
  library_config.model.fast_convolutions = False
  library = Trainer(library_config)
  library_state = state.replace(apply_fn=library.model.apply)
  train_flops = _flops(library.train_step.lower(library_state, device_batch).compile())

  def train_steps(state):
    for _ in range(FLAGS.steps):
      state, output = trainer.train_step(state, device_batch)
    return state, output

  state, _ = trainer.train_step(state, device_batch)  # warm-up and compile
  jax.block_until_ready(state)
  start = time.perf_counter()
  state, output = train_steps(state)
  jax.block_until_ready(output)
  train_seconds = (time.perf_counter() - start) / FLAGS.steps
  train_images = batch / train_seconds
  train_gflops = train_flops / train_seconds / 1e9
  print(f"train: {train_images:.3f} images/s, {train_seconds:.2f} s/step, {train_flops / batch / 1e9:.1f} GFLOP/image, "
        f"{train_gflops:.1f} GFLOP/s = {train_gflops / peak:.1%} of matmul peak")  # fmt: skip

  variables = {"params": state.params, "batch_stats": state.batch_stats}
  infer = jax.jit(lambda variables, images: trainer.model.apply(variables, images, train=False))
  library_infer = jax.jit(
    lambda variables, images: library.model.apply(variables, images, train=False)
  )
  infer_flops = _flops(library_infer.lower(variables, device_batch["image"]).compile())
  infer_seconds = timed(infer, variables, device_batch["image"], steps=FLAGS.steps)
  infer_images = batch / infer_seconds
  infer_gflops = infer_flops / infer_seconds / 1e9
  print(f"infer: {infer_images:.3f} images/s, {infer_flops / batch / 1e9:.1f} GFLOP/image, "
        f"{infer_gflops:.1f} GFLOP/s = {infer_gflops / peak:.1%} of matmul peak")  # fmt: skip
  print(json.dumps({
    "train_images_per_s": round(train_images, 4), "infer_images_per_s": round(infer_images, 4),
    "train_gflops_per_s": round(train_gflops, 2), "infer_gflops_per_s": round(infer_gflops, 2),
    "train_gflop_per_image": round(train_flops / batch / 1e9, 2), "infer_gflop_per_image": round(infer_flops / batch / 1e9, 2),
    "matmul_gflops_per_s": round(peak, 1), "batch_size": batch, "tile_size": size,
    "xla_flags": os.environ.get("XLA_FLAGS", ""), "jax": jax.__version__,
    "dtype": config.model.dtype, "fast_convolutions": config.model.fast_convolutions,
    "engine": "xla", "precision": config.model.dtype,
  }))  # fmt: skip


if __name__ == "__main__":
  app.run(main)
