"""Shared fixtures: small synthetic datasets built once per session, and the real sample root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REAL_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "sen1floods11" / "v1.1"
OFFICIAL_SPLITS = REAL_ROOT.parent / "official_splits"


@pytest.fixture(scope="session")
def real_root() -> Path:
  if not REAL_ROOT.is_dir():
    pytest.skip("../shared/data/sen1floods11 is not beside the project")
  return REAL_ROOT


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
  from flood_jax.data.synthetic import generate_dataset

  return generate_dataset(tmp_path_factory.mktemp("synthetic") / "v1.1", 12, 6, seed=1)


@pytest.fixture(scope="session")
def tile_store(tmp_path_factory, synthetic_root) -> Path:
  """The synthetic root preprocessed into 128-px tiles."""
  from configs import test as test_config
  from flood_jax.preprocess import preprocess

  config = test_config.get_config()
  config.data.root = str(synthetic_root)
  output = tmp_path_factory.mktemp("store") / "tiles"
  preprocess(config, output)
  return output


os.environ.setdefault("TQDM_DISABLE", "1")
