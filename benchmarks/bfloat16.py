"""Would bfloat16 compute make the ResUNet faster on this CPU? Matmuls against convolutions.

    python -m benchmarks.bfloat16 [--batch_size=4]

Prints the GFLOP/s of a 2048x2048 matmul in float32 and in bfloat16 (float32 accumulation), then
for the 3x3 convolution of each level of the best config at 256x256: XLA's forward pass in
float32 and in bfloat16 (and whether XLA kept the bfloat16 convolution or converted it to float32),
and the same convolution written as bfloat16 matrix products, the input unfolded (im2col) a band
of rows at a time, with its largest difference relative to float32. The last line is a JSON
object. This is the measurement behind docs/speed.md's statement that a bfloat16 model does not
run faster here; the banded forward pass is not used by the model.
"""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags
from jax import lax

from benchmarks import convolutions  # LEVELS, seconds, library and the flags

FLAGS = flags.FLAGS
flags.DEFINE_integer("band_rows", 2, "Image rows per band of the unfolded bfloat16 forward pass.")


def matmul_gflops(dtype, size: int = 2048) -> float:
  a = jnp.ones((size, size), dtype)
  matmul = jax.jit(lambda x, y: jnp.dot(x, y, preferred_element_type=jnp.float32))
  return 2 * size**3 / convolutions.seconds(matmul, a, a) / 1e9


def banded_forward(x, kernel, rows: int):
  """3x3 'SAME' convolution as one matmul per band of `rows` rows of the unfolded input."""
  batch, height, width, channels = x.shape
  features = kernel.shape[-1]
  padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  matrix = kernel.reshape(9 * channels, features)

  def band(_, index):
    wide = lax.dynamic_slice_in_dim(padded, index * rows, rows + 2, axis=1)
    columns = jnp.concatenate(
      [wide[:, i : i + rows, j : j + width] for i in range(3) for j in range(3)], axis=-1
    )
    product = jnp.einsum("bhwc,cd->bhwd", columns, matrix, preferred_element_type=jnp.float32)
    return None, product.astype(x.dtype)

  _, bands = lax.scan(band, None, jnp.arange(height // rows))
  return bands.transpose(1, 0, 2, 3, 4).reshape(batch, height, width, features)


def main(argv) -> None:
  del argv
  print(f"jax {jax.__version__}, devices {jax.devices()}")
  print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
  f32, bf16 = matmul_gflops(jnp.float32), matmul_gflops(jnp.bfloat16)
  print(f"2048x2048 matmul: float32 {f32:.0f} GFLOP/s, bfloat16 {bf16:.0f} GFLOP/s")
  rng = np.random.default_rng(0)
  rows = []
  for size, channels in convolutions.LEVELS:
    shape = (FLAGS.batch_size, size, size, channels)
    x = jnp.asarray(rng.normal(size=shape), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(3, 3, channels, channels)) * 0.05, jnp.float32)
    xb, kb = x.astype(jnp.bfloat16), kernel.astype(jnp.bfloat16)
    gflop = 2 * np.prod(shape) * channels * 9 / 1e9
    library = jax.jit(convolutions.library)
    banded = jax.jit(lambda x, k: banded_forward(x, k, FLAGS.band_rows))
    compiled = library.lower(xb, kb).compile().as_text()
    kept = any("bf16" in line.split("convolution(")[0] for line in compiled.splitlines()
               if "convolution(" in line)  # fmt: skip
    reference = library(x, kernel)
    error = float(
      jnp.abs(banded(xb, kb).astype(jnp.float32) - reference).max() / jnp.abs(reference).max()
    )
    row = {
      "layer": f"{size}x{size}x{channels} 3x3",
      "xla_float32": round(gflop / convolutions.seconds(library, x, kernel), 1),
      "xla_bfloat16": round(gflop / convolutions.seconds(library, xb, kb), 1),
      "xla_keeps_bfloat16": kept,
      "banded_matmul_bfloat16": round(gflop / convolutions.seconds(banded, xb, kb), 1),
      "max_rel_diff": error,
    }
    rows.append(row)
    print(
      f"{row['layer']:>16}: forward GFLOP/s XLA float32 {row['xla_float32']:6.1f}, XLA bfloat16 "
      f"{row['xla_bfloat16']:6.1f} ({'kept' if kept else 'converted to float32'}), bfloat16 "
      f"matmuls over {FLAGS.band_rows}-row bands {row['banded_matmul_bfloat16']:6.1f} "
      f"(max rel. diff {error:.1e})",
      flush=True,
    )
  print(json.dumps({
    "matmul_float32": round(f32, 1), "matmul_bfloat16": round(bf16, 1), "layers": rows,
    "batch_size": FLAGS.batch_size, "band_rows": FLAGS.band_rows, "jax": jax.__version__,
  }))  # fmt: skip


if __name__ == "__main__":
  app.run(main)
