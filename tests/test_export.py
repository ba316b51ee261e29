"""Model folders: ONNX export against Flax, int8 against float32, checksums, engines, bundled."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio

from flood_jax.api import trained_model
from flood_jax.core.model_folder import FILES, read_folder
from flood_jax.dataset.catalog import build_catalog
from flood_jax.dataset.sen1floods11 import read_chip
from flood_jax.errors import DataError, UsageError
from flood_jax.export import exporter as export
from flood_jax.mapping.engines import OnnxRuntimeEngine, XlaEngine
from flood_jax.mapping.loading import BUNDLED_MODEL
from flood_jax.training.restore import training_data_root
from tests.test_cli_errors import assert_clean_error, run


@pytest.fixture(scope="module")
def flax_model(trained_workdir):
  return trained_model(trained_workdir)


def test_folder_has_every_file_and_a_card(model_folder, flax_model):
  card = read_folder(model_folder)
  assert set(card["files"]) >= {FILES["float32"], FILES["variables"]}
  assert card["stats"] == flax_model.stats and card["threshold"] == flax_model.threshold
  assert card["input"]["scale"] == "db" and card["input"]["pixel_size_m"] == 10.0
  assert card["window"]["tile_size"] == flax_model.config.predict.tile_size
  assert card["checks"]["float32_max_difference"] <= 1e-5
  assert "test" in card["metrics"] and card["config"]["model"] == json.loads(
    json.dumps(flax_model.config.model.to_dict())
  )
  import onnx

  graph = onnx.load(model_folder / FILES["float32"]).graph
  operations = {node.op_type for node in graph.node}
  assert "BatchNormalization" not in operations  # folded
  assert not operations & {"Einsum", "ReduceMax", "ReduceMean"}  # rewritten (onnx_graph)


def test_onnx_float32_equals_flax_on_two_batch_and_two_array_sizes(model_folder, flax_model):
  onnx_model = trained_model(model_folder, engine="onnxruntime", precision="float32")
  size = onnx_model.engine.tile_size
  rng = np.random.default_rng(0)
  for batch in (1, 3):
    images = rng.normal(size=(batch, size, size, 3)).astype(np.float32)
    np.testing.assert_allclose(
      onnx_model.probabilities(images), flax_model.probabilities(images), atol=1e-5
    )
  for shape in ((70, 90), (150, 130)):
    vv = rng.normal(-12, 4, shape).astype(np.float32)
    vv_vh_db = np.stack([vv, vv - 7], -1)
    np.testing.assert_allclose(
      onnx_model.predict_array(vv_vh_db), flax_model.predict_array(vv_vh_db), atol=1e-5
    )


def test_int8_map_agrees_with_float32_on_the_test_chips(trained_workdir, model_folder, flax_model):
  """Static int8 calibrated on training windows maps the synthetic test chips like float32 on
  at least 99% of valid pixels (built here even where export's IoU check kept it out)."""
  root = training_data_root(trained_workdir, flax_model.config)
  float32 = (model_folder / FILES["float32"]).read_bytes()
  windows = export.calibration_windows(flax_model, root, flax_model.config.predict.tile_size, 8)
  int8 = flax_model.with_engine(OnnxRuntimeEngine(export.quantize_int8(float32, windows), "int8"))
  reference = flax_model.with_engine(OnnxRuntimeEngine(float32, "float32"))
  agree = total = 0
  for record in build_catalog(root, ("test",), use_weak=False):
    chip = read_chip(record.s1_path, record.label_path)
    valid = np.isfinite(chip.vv_vh_db).all(-1)
    a = int8.predict_array(chip.vv_vh_db)[valid] > int8.threshold
    b = reference.predict_array(chip.vv_vh_db)[valid] > reference.threshold
    agree, total = agree + int((a == b).sum()), total + int(valid.sum())
  assert total > 0 and agree / total >= 0.99, agree / total


def test_engines_are_chosen_by_flags_and_checked(model_folder, trained_workdir):
  assert isinstance(trained_model(model_folder).engine, OnnxRuntimeEngine)  # CPU default
  assert isinstance(trained_model(model_folder, engine="xla").engine, XlaEngine)
  assert isinstance(trained_model(trained_workdir).engine, XlaEngine)
  with pytest.raises(UsageError, match="needs a model folder"):
    trained_model(trained_workdir, engine="onnxruntime")
  with pytest.raises(UsageError, match="fixed|only"):
    trained_model(model_folder, "onnxruntime", "float32").tiling(tile_size=999)


@pytest.mark.parametrize("damage", ["missing", "altered"])
def test_damaged_folder_is_refused_in_one_line(model_folder, tmp_path, damage):
  folder = tmp_path / "model"
  shutil.copytree(model_folder, folder)
  target = folder / FILES["float32"]
  if damage == "missing":
    target.unlink()
  else:
    target.write_bytes(target.read_bytes()[:-10] + b"0123456789")
  with pytest.raises(DataError, match="missing|checksum"):
    trained_model(folder)
  scene = tmp_path / "scene.tif"
  with rasterio.open(
    scene,
    "w",
    driver="GTiff",
    height=8,
    width=8,
    count=2,
    dtype="float32",
    crs="EPSG:32633",
    transform=rasterio.transform.from_origin(0, 80, 10, 10),
  ) as out:
    out.write(np.full((2, 8, 8), -10, np.float32))
  result = run(
    "flood_jax.predict",
    f"--model={folder}",
    f"--input={scene}",
    f"--output={tmp_path / 'flood.tif'}",
  )
  assert_clean_error(result, FILES["float32"], "missing" if damage == "missing" else "checksum")
  assert result.returncode == 2 and not (tmp_path / "flood.tif").exists()


def test_export_refuses_to_replace_a_folder(model_folder, trained_workdir):
  with pytest.raises(UsageError, match="already exists"):
    export.export(trained_workdir, model_folder)


def test_bundled_model_maps_a_chip_without_a_workdir(tmp_path):
  """The model shipped in the package: its card, and a chip mapped with no workdir."""
  card = json.loads((BUNDLED_MODEL / "model.json").read_text())
  assert card["training_data"] and (BUNDLED_MODEL / "MODEL_CARD.md").exists()
  given = card["training_data"]
  paths = [given["root"], given["workdir"], *given.get("real_roots", [])]
  assert not any(Path(path).is_absolute() for path in paths)  # no build machine's paths ship
  size = sum(path.stat().st_size for path in BUNDLED_MODEL.iterdir())
  assert size <= 10 * 2**20
  model = trained_model(BUNDLED_MODEL)
  vv = np.full((100, 120), -9.0, np.float32)
  vv[30:70, 40:90] = -22.0  # a dark lake on bright land
  probability = model.predict_array(np.stack([vv, vv - 7], -1))
  assert probability[50, 65] > model.threshold > probability[5, 5]


def test_flip_averaging_is_exact_for_equivariant_engines_and_symmetrises_others():
  from flood_jax.mapping.engines import FlipAveraged

  class Engine:
    name, precision = "test", "float32"

    def __init__(self, function):
      self.function = function

    def __call__(self, images):
      return self.function(images)

  images = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype(np.float32)
  equivariant = FlipAveraged(Engine(lambda x: x[..., 0] ** 2))
  np.testing.assert_allclose(equivariant(images), images[..., 0] ** 2, rtol=1e-6)
  ramp = FlipAveraged(Engine(lambda x: np.broadcast_to(np.arange(8.0), x.shape[:3])))
  np.testing.assert_allclose(ramp(images), np.full((2, 8, 8), 3.5))


def test_a_model_config_asking_for_flips_loads_with_them(trained_workdir, tmp_path):
  from flood_jax.mapping.engines import FlipAveraged

  workdir = tmp_path / "workdir"
  shutil.copytree(trained_workdir, workdir)
  config = json.loads((workdir / "config.json").read_text())
  config["predict"]["test_time_flips"] = True
  (workdir / "config.json").write_text(json.dumps(config))
  model = trained_model(workdir)
  assert isinstance(model.engine, FlipAveraged) and "4 flips" in model.describe()
  assert not isinstance(model.with_options(flips=False).engine, FlipAveraged)


def test_evaluate_reports_each_engine_side_by_side(model_folder, synthetic_root, tmp_path):
  """`evaluate --engines`: one report per engine and a table of their IoUs, the first engine
  the reference; the figures are those of evaluating each engine on its own."""
  from tests.test_cli_errors import assert_clean_error, run

  common = [f"--model={model_folder}", f"--data_root={synthetic_root}", "--num_panels=0"]
  result = run("flood_jax.evaluate", *common, f"--output={tmp_path}",
               "--engines=xla,onnxruntime:float32,onnxruntime:int8")  # fmt: skip
  assert result.returncode == 0, result.stderr[-2000:]
  summaries = json.loads((tmp_path / "engines.json").read_text())
  assert list(summaries) == ["xla float32", "onnxruntime float32", "onnxruntime int8"]
  for name, summary in summaries.items():
    saved = json.loads((tmp_path / name.replace(" ", "_") / "summary.json").read_text())
    assert saved["model"]["overall"]["iou"] == summary["model"]["overall"]["iou"]
    assert f"| {name} | {summary['model']['overall']['iou']:.4f} |" in result.stdout
  # XLA and ONNX float32 are the same function (within 1e-5), so their maps agree.
  ious = [summary["model"]["overall"]["iou"] for summary in summaries.values()]
  assert abs(ious[1] - ious[0]) < 1e-3
  assert_clean_error(
    run("flood_jax.evaluate", *common, "--engines=xla,tensorrt"), "--engines=tensorrt"
  )
