"""A new architecture and a new evaluator are one module and one config entry each: a toy model
(`config.model.name`) trains, evaluates and exports, and a toy evaluator (`config.evals`) runs
during training and in `evaluate`."""

import csv
import json

import numpy as np
import pytest

from configs import test as test_config
from flood_jax.errors import ConfigError


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory, tile_store):
  from flood_jax.evaluation.during_training import ChipEvaluations
  from flood_jax.training import train

  config = test_config.get_config()
  config.data.preprocessed = str(tile_store)
  config.model.name = "tests.toy_registry"
  config.evals = {"toy": {"type": "tests.toy_registry:WaterShare", "during_training": True,
                          "scale": 100.0}}  # fmt: skip
  workdir = tmp_path_factory.mktemp("toy")
  train.train_and_evaluate(config, workdir, ChipEvaluations(config))
  return workdir


def test_a_registered_model_trains_and_a_registered_evaluator_runs_at_each_evaluation(toy_run):
  stored = json.loads((toy_run / "config.json").read_text())
  assert stored["model"]["name"] == "tests.toy_registry"
  with (toy_run / "metrics.csv").open() as file:
    rows = list(csv.DictReader(file))
  assert [row["step"] for row in rows] == ["3", "6"]
  shares = [float(row["valid_toy/water_share/share"]) for row in rows]
  assert all(0.0 <= share <= 100.0 for share in shares)


def test_the_registered_model_evaluates_with_its_evaluator_and_exports(toy_run, synthetic_root,
                                                                        tmp_path):  # fmt: skip
  from flood_jax.api import trained_model
  from flood_jax.evaluation.chips import evaluate
  from flood_jax.export.exporter import export

  model = trained_model(toy_run)
  assert type(model.model).__name__ == "Toy"
  summary = evaluate(model, "test", synthetic_root, tmp_path / "eval", num_panels=0,
                     show_progress=False)  # fmt: skip
  assert 0.0 <= summary["water_share"]["share"] <= 100.0
  export(toy_run, tmp_path / "folder", windows=2)
  folder = trained_model(tmp_path / "folder", precision="float32")
  chip = np.full((64, 64, 2), -20.0, np.float32)
  np.testing.assert_allclose(folder.predict_array(chip), model.predict_array(chip), atol=1e-4)


def test_unknown_names_are_one_line():
  from flood_jax.evaluation.registry import evaluators_from
  from flood_jax.models import model_from_config

  config = test_config.get_config()
  config.model.name = "nothing_here"
  with pytest.raises(ConfigError, match="config.model.name='nothing_here': no module"):
    model_from_config(config.model, "cpu")
  with pytest.raises(ConfigError, match="evaluator type 'nope'"):
    evaluators_from({"x": {"type": "nope"}})
  with pytest.raises(ConfigError, match="config.evals.x: .*unexpected keyword"):
    evaluators_from({"x": {"type": "scores", "colour": "red"}})
