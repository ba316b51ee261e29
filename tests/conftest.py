"""Shared fixtures: small synthetic datasets built once per session, and the real sample root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

OTHER_CPU = Path(__file__).resolve().parent / "other_cpu"
if os.environ.get("FLOOD_JAX_TEST_NOISE_SEED"):  # another CPU's last bits: other_cpu/sitecustomize
  import importlib.util

  paths = [str(OTHER_CPU), os.environ.get("PYTHONPATH", "")]
  os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, paths))  # children import it at start
  spec = importlib.util.spec_from_file_location("other_cpu", OTHER_CPU / "sitecustomize.py")
  spec.loader.exec_module(importlib.util.module_from_spec(spec))  # this process started before

REAL_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "sen1floods11" / "v1.1"
OFFICIAL_SPLITS = REAL_ROOT.parent / "official_splits"
SHARED_DATA = REAL_ROOT.parents[1]  # ../shared/data: sen1floods11/v1.1, dfc2024, terramesh


@pytest.fixture(scope="session")
def real_root() -> Path:
  if not REAL_ROOT.is_dir():
    pytest.skip("../shared/data/sen1floods11 is not beside the project")
  return REAL_ROOT


def shared_set(name: str) -> Path:
  """A real set of ../shared/data (dfc2024, terramesh), or the test is skipped."""
  folder = SHARED_DATA / name
  if not folder.is_dir():
    pytest.skip(f"../shared/data/{name} is not beside the project")
  return folder


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
  from flood_jax.dataset.synthetic import generate_dataset

  return generate_dataset(tmp_path_factory.mktemp("synthetic") / "v1.1", 12, 6, seed=1)


@pytest.fixture(scope="session")
def tile_store(tmp_path_factory, synthetic_root) -> Path:
  """The synthetic root preprocessed into 128-px tiles."""
  from configs import test as test_config
  from flood_jax.training.tile_store import preprocess

  config = test_config.get_config()
  config.data.root = str(synthetic_root)
  output = tmp_path_factory.mktemp("store") / "tiles"
  preprocess(config, output)
  return output


os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture(scope="session")
def trained_workdir(tmp_path_factory, tile_store) -> Path:
  """A tiny model trained for a few steps on the synthetic tiles (for predict and evaluate)."""
  from configs import test as test_config
  from flood_jax.training import train

  config = test_config.get_config()
  config.data.preprocessed = str(tile_store)
  config.num_train_steps = 30
  config.eval_every_steps = 15
  config.data.weak_fraction = 0.25
  config.optimizer.learning_rate = 5e-3
  config.optimizer.first_period = 30
  workdir = tmp_path_factory.mktemp("trained")
  train.train_and_evaluate(config, workdir)
  return workdir


@pytest.fixture(scope="session")
def model_folder(tmp_path_factory, trained_workdir) -> Path:
  """The tiny trained model exported as a model folder (ONNX float32, int8 if it passed)."""
  from flood_jax.export.exporter import export

  output = tmp_path_factory.mktemp("exported") / "model"
  export(trained_workdir, output, windows=8)
  return output
