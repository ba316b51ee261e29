"""Every config loads, validates and builds its model; sweeps name existing configs."""

import importlib
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from configs import default
from experiments import run_sweep
from flood_jax.errors import ConfigError
from flood_jax.models import MODEL_VARIANTS, model_from_config
from flood_jax.training import config_checks

PROJECT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(
  path.stem for path in (PROJECT / "configs").glob("*.py") if path.stem != "__init__"
)


def load(spec: str):
  """A config from `configs/<name>.py[:arg]`, as --config loads it."""
  path, _, arg = spec.partition(":")
  module = importlib.import_module(f"configs.{Path(path).stem}")
  return module.get_config(arg or None)


@pytest.mark.parametrize("name", CONFIGS)
def test_config_is_valid_and_builds(name):
  config = load(name)
  config_checks.validate(config)
  model = model_from_config(config.model)
  size = 2 ** (len(config.model.filters) - 1) * 2
  jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 3))))


def test_default_documents_every_field():
  import re

  source = (PROJECT / "flood_jax" / "core" / "config.py").read_text()
  config = importlib.import_module("configs.default").get_config()

  def leaves(node, prefix=""):
    for key, value in node.items():
      if hasattr(value, "items") and key != "terms":
        yield from leaves(value, f"{prefix}{key}.")
      else:
        yield prefix + key, key

  for path, key in leaves(config):
    lines = [line for line in source.splitlines() if re.match(rf"\s+\w+\.{key} = ", line)]
    assert lines and all("#" in line for line in lines), (
      f"{path} has no comment in flood_jax/core/config.py"
    )


def test_config_arguments_choose_variants():
  config = load("best.py:model=resunet_se,loss=dice")
  for switch, value in MODEL_VARIANTS["resunet_se"].items():
    assert config.model[switch] == value
  assert dict(config.loss.terms) == {"dice": 1.0}
  demo = load("demo.py:model=unet")
  assert not demo.model.residual and demo.model.filters == load("demo.py").model.filters
  assert load("best.py").to_dict() == default.apply_arg(load("best.py"), "").to_dict()
  for bad in ("model=resnet", "loss=lovasz", "optimizer=sgd"):
    with pytest.raises(ConfigError, match=bad.split("=")[0]):
      load(f"best.py:{bad}")


@pytest.mark.parametrize("sweep", ["ablation_models", "ablation_losses", "demo_models"])
def test_sweeps_name_existing_configs(sweep):
  runs = run_sweep.load_sweep(str(PROJECT / "experiments" / f"{sweep}.py"))
  assert len({run["name"] for run in runs}) == len(runs)
  for run in runs:
    assert (PROJECT / run["config"].partition(":")[0]).exists()
    config_checks.validate(load(run["config"]))


def test_collect_gathers_results(tmp_path):
  runs = [
    {"name": "a", "config": "configs/best.py", "overrides": []},
    {"name": "b", "config": "configs/best.py", "overrides": []},
  ]
  (tmp_path / "a").mkdir()
  (tmp_path / "a" / "results.json").write_text(
    json.dumps({"test": {"iou": 0.5, "mean_iou": 0.6, "f1": 0.7}})
  )
  rows = run_sweep.collect(tmp_path, runs)
  assert rows[0]["test_iou"] == "0.5000" and "test_iou" not in rows[1]
  assert "| a | - | 0.5000 |" in (tmp_path / "results.md").read_text()


def test_load_config_fills_fields_a_stored_config_lacks_with_the_defaults(tmp_path):
  """A model trained before a field existed takes the default of configs/default.py (the old
  scattered `.get(field, False)` made calibrate_threshold False where the default is True)."""
  from flood_jax.core.config import load_config

  stored = load("test.py").to_dict()
  del stored["calibrate_threshold"]
  del stored["predict"]["max_water_vv_db"], stored["predict"]["min_area_m2"]
  stored["loss"]["terms"] = {"dice": 1.0}
  (tmp_path / "config.json").write_text(json.dumps(stored, default=list))
  config = load_config(tmp_path)  # a workdir: its config.json
  assert config.calibrate_threshold is True
  assert config.predict.max_water_vv_db is None and config.predict.min_area_m2 == 0.0
  assert dict(config.loss.terms) == {"dice": 1.0}  # a stored mapping replaces, never merges
  assert config.model.filters == tuple(stored["model"]["filters"])


def test_load_config_reads_a_model_folder_s_card():
  from flood_jax.core.config import load_config
  from flood_jax.mapping.loading import BUNDLED_MODEL

  card = json.loads((BUNDLED_MODEL / "model.json").read_text())
  config = load_config(BUNDLED_MODEL)
  assert config.predict.max_water_vv_db == card["config"]["predict"]["max_water_vv_db"]


@pytest.mark.parametrize(
  "change, message",
  [
    ({"loss": {"terms": {"dice": -1.0}}}, r"config.loss.terms\['dice'\]=-1.0 must be"),
    ({"loss": {"terms": {"dice": 0.0}}}, "at least one weight must be > 0"),
    ({"augment": {"flip_probability": 1.5}}, "config.augment.flip_probability=1.5"),
    ({"data": {"weak_fraction": -0.1}}, "config.data.weak_fraction=-0.1"),
    ({"predict": {"min_area_m2": -5.0}}, "config.predict.min_area_m2=-5.0"),
    ({"threshold": 1.5}, "config.threshold=1.5"),
    ({"loss": {"tversky_alpha": -0.7}}, "config.loss.tversky_alpha=-0.7 must be a finite number"),
    ({"loss": {"focal_tversky_gamma": float("nan")}}, "config.loss.focal_tversky_gamma=nan"),
    (
      {"loss": {"focal_tversky_gamma": 0.0}},
      r"focal_tversky_gamma=0.0 must be a finite number > 0",
    ),
    ({"loss": {"tversky_alpha": 0.0, "tversky_beta": 0.0}}, "tversky_alpha \\+ tversky_beta"),
    ({"data": {"real_hand_weight": -1.0}}, "config.data.real_hand_weight=-1.0"),
    ({"data": {"real_fraction": 2.0}}, "config.data.real_fraction=2.0"),
  ],
)
def test_load_config_refuses_bad_stored_values_naming_file_and_field(tmp_path, change, message):
  from flood_jax.core.config import load_config

  stored = load("test.py").to_dict()
  for section, value in change.items():
    stored[section] = {**stored[section], **value} if isinstance(value, dict) else value
  path = tmp_path / "config.json"
  path.write_text(json.dumps(stored, default=list))
  with pytest.raises(ConfigError, match=message) as error:
    load_config(path)
  assert str(error.value).startswith(f"{path}: ")
