"""Another CPU's last bits, for the test suite: with FLOOD_JAX_TEST_NOISE_SEED set, every
inference engine's water probabilities get uniform noise of at most 1e-6 (clipped to [0, 1]).

A test must hold on any CPU, and CPUs differ in the last bits of a model's output (AVX-512 VNNI
against AVX2 kernels, other summation orders). The noise of each window is drawn from the seed and
the window's own bytes, so, as on a real CPU, the same input gives the same output in every path
and process, and tests that compare two paths still compare like with like.

The tests' conftest puts this folder first on sys.path and PYTHONPATH, so that Python imports this
file at start-up in the test process and in every child it starts (programs, Dask workers).
Run the suite so: `FLOOD_JAX_TEST_NOISE_SEED=3 python -m pytest -q`.
"""

import hashlib
import os

NOISE = 1e-6
VARIABLE = "FLOOD_JAX_TEST_NOISE_SEED"


def perturbed(engine_call, seed: int):
  """`engine_call(self, images)` with each image's probabilities moved by the seeded noise."""
  import numpy as np

  def call(self, images):
    probabilities = np.array(engine_call(self, images), np.float32)
    for index, image in enumerate(np.ascontiguousarray(images, np.float32)):
      digest = hashlib.blake2b(image.tobytes(), digest_size=8, key=str(seed).encode())
      rng = np.random.default_rng(int.from_bytes(digest.digest(), "little"))
      noise = rng.uniform(-NOISE, NOISE, probabilities.shape[1:]).astype(np.float32)
      probabilities[index] = np.clip(probabilities[index] + noise, 0.0, 1.0)
    return probabilities

  return call


def perturb_engines(seed: int) -> None:
  """Every engine of flood_jax.mapping.engines perturbed, once per process."""
  from flood_jax.mapping import engines

  for engine in (engines.OnnxRuntimeEngine, engines.XlaEngine):
    if not getattr(engine.__call__, "perturbed", False):
      engine.__call__ = perturbed(engine.__call__, seed)
      engine.__call__.perturbed = True


if os.environ.get(VARIABLE):
  perturb_engines(int(os.environ[VARIABLE]))
