"""GFLOP/s of single convolution layers, XLA's against flood_jax/models/conv.py's.

    python -m benchmarks.convolutions [--batch_size=4]

For the four levels of the best config at 256x256 (3x3, C -> C) and their 1x1 shortcuts, prints
one line per layer: forward, input gradient and weight gradient as XLA runs them, then the
weight gradient (3x3) or the forward pass and weight gradient (1x1) as models/conv.py computes
them, and their largest difference relative to XLA's. The last line is a JSON object.
"""

from __future__ import annotations

import json
import os
import time

import flax
import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags
from jax import lax

from flood_jax.models import conv

FLAGS = flags.FLAGS
flags.DEFINE_integer("batch_size", 4, "Images per call.")
flags.DEFINE_integer("repeats", 4, "Timed calls after one warm-up call.")

LEVELS = ((256, 64), (128, 128), (64, 256), (32, 512))
NHWC = ("NHWC", "HWIO", "NHWC")


def seconds(function, *args) -> float:
  jax.block_until_ready(function(*args))
  start = time.perf_counter()
  for _ in range(FLAGS.repeats):
    output = function(*args)
  jax.block_until_ready(output)
  return (time.perf_counter() - start) / FLAGS.repeats


def library(x, kernel):
  return lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=NHWC)


def ours(x, kernel):
  numbers = lax.conv_dimension_numbers(x.shape, kernel.shape, NHWC)
  return conv.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=numbers)


def measure(function, x, kernel, cotangent):
  forward = jax.jit(function)
  input_grad = jax.jit(lambda x, k, g: jax.vjp(lambda x: function(x, k), x)[1](g)[0])
  weight_grad = jax.jit(lambda x, k, g: jax.vjp(lambda k: function(x, k), kernel)[1](g)[0])
  return {
    "forward": seconds(forward, x, kernel),
    "input_grad": seconds(input_grad, x, kernel, cotangent),
    "weight_grad": seconds(weight_grad, x, kernel, cotangent),
    "outputs": (forward(x, kernel), weight_grad(x, kernel, cotangent)),
  }


def main(argv) -> None:
  del argv
  print(f"jax {jax.__version__}, flax {flax.__version__}, devices {jax.devices()}")
  print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
  rng = np.random.default_rng(0)
  rows = []
  for size, channels in LEVELS:
    for kernel_size in (3, 1):
      shape = (FLAGS.batch_size, size, size, channels)
      x = jnp.asarray(rng.normal(size=shape), jnp.float32)
      kernel = jnp.asarray(
        rng.normal(size=(kernel_size, kernel_size, channels, channels)) * 0.05, jnp.float32
      )
      cotangent = jnp.asarray(rng.normal(size=shape), jnp.float32)
      gflop = 2 * np.prod(shape) * channels * kernel_size**2 / 1e9
      theirs, mine = measure(library, x, kernel, cotangent), measure(ours, x, kernel, cotangent)
      error = max(
        float(jnp.abs(a - b).max() / jnp.abs(b).max())
        for a, b in zip(mine["outputs"], theirs["outputs"], strict=True)
      )
      row = {
        "layer": f"{size}x{size}x{channels} {kernel_size}x{kernel_size}",
        "max_rel_diff": error,
      }
      for name in ("forward", "input_grad", "weight_grad"):
        row[f"xla_{name}"] = round(gflop / theirs[name], 1)
        row[f"ours_{name}"] = round(gflop / mine[name], 1)
      rows.append(row)
      print(
        f"{row['layer']:>18}: GFLOP/s XLA forward {row['xla_forward']:6.1f}  input grad "
        f"{row['xla_input_grad']:6.1f}  weight grad {row['xla_weight_grad']:6.1f} | ours forward "
        f"{row['ours_forward']:6.1f}  weight grad {row['ours_weight_grad']:6.1f}  "
        f"(max rel. diff {error:.1e})",
        flush=True,
      )
  print(json.dumps({"layers": rows, "batch_size": FLAGS.batch_size, "jax": jax.__version__}))


if __name__ == "__main__":
  app.run(main)
