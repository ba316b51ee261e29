"""Bad input at the command line: one line naming the file or field, non-zero exit, no traceback,
no partial output. Each case here is a row of docs/reliability.md."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from flood_jax.core.files import partial_path

PROJECT = Path(__file__).resolve().parents[1]


def run(*arguments, env=None):
  environment = dict(os.environ, JAX_PLATFORMS="cpu", **(env or {}))
  return subprocess.run(
    [sys.executable, "-m", *arguments],
    cwd=PROJECT,
    env=environment,
    capture_output=True,
    text=True,
    timeout=300,
  )


def assert_clean_error(result, *fragments):
  assert result.returncode != 0
  assert "Traceback" not in result.stderr, result.stderr[-2000:]
  error_lines = [
    line for line in result.stderr.splitlines() if line.startswith(("error:", "FATAL"))
  ]
  assert len(error_lines) == 1, result.stderr[-2000:]
  for fragment in fragments:
    assert fragment in error_lines[0], error_lines[0]
  return error_lines[0]


def test_missing_dataset_root(tmp_path):
  result = run(
    "flood_jax.preprocess",
    "--config=configs/test.py",
    f"--config.data.root={tmp_path}/nowhere",
    f"--output={tmp_path}/out",
  )
  assert_clean_error(result, "nowhere", "dataset root not found")
  assert not (tmp_path / "out").exists() and not partial_path(tmp_path / "out").exists()


def test_root_without_the_layout(tmp_path):
  result = run(
    "flood_jax.preprocess",
    "--config=configs/test.py",
    f"--config.data.root={tmp_path}",
    f"--output={tmp_path}/out",
  )
  assert_clean_error(result, "a folder in no layout flood_jax reads", "Sen1Floods11", "generic")


def test_split_naming_a_missing_chip(synthetic_root, tmp_path):
  root = tmp_path / "root"
  shutil.copytree(synthetic_root, root)
  csv = root / "splits/flood_handlabeled/flood_valid_data.csv"
  csv.write_bytes(csv.read_bytes() + b"Spain_1_S1Hand.tif,Spain_1_LabelHand.tif\r\n")
  result = run(
    "flood_jax.preprocess",
    "--config=configs/test.py",
    f"--config.data.root={root}",
    f"--output={tmp_path}/out",
  )
  assert_clean_error(result, "Spain_1_S1Hand.tif", "file not found", "valid split")
  assert not (tmp_path / "out").exists() and not partial_path(tmp_path / "out").exists()


def test_corrupt_label_values_leave_no_output(synthetic_root, tmp_path):
  root = tmp_path / "root"
  shutil.copytree(synthetic_root, root)
  label_path = next((root / "data/flood_events/HandLabeled/LabelHand").glob("*.tif"))
  with rasterio.open(label_path, "r+") as dataset:
    values = dataset.read(1)
    values[0, 0] = 5
    dataset.write(values, 1)
  result = run(
    "flood_jax.preprocess",
    "--config=configs/test.py",
    f"--config.data.root={root}",
    f"--output={tmp_path}/out",
  )
  assert_clean_error(result, label_path.name, "values [5]")
  assert not (tmp_path / "out").exists() and not partial_path(tmp_path / "out").exists()


def test_verbose_shows_the_traceback(tmp_path):
  result = run(
    "flood_jax.preprocess",
    "--config=configs/test.py",
    f"--config.data.root={tmp_path}/x",
    f"--output={tmp_path}/o",
    "--verbose",
  )
  assert result.returncode != 0 and "Traceback" in result.stderr


@pytest.mark.parametrize(
  "override, fragment",
  [
    (
      "--config.optimizer.learning_rate=-0.001",
      "config.optimizer.learning_rate=-0.001 must be > 0",
    ),
    ("--config.data.tile_size=99", "config.data.tile_size=99"),
    ("--config.optimizer.learnig_rate=0.1", "learnig_rate"),
    ("--config.nonfinite=ignore", "config.nonfinite"),
  ],
)
def test_bad_config_fields(tmp_path, override, fragment):
  result = run("flood_jax.main", "--config=configs/test.py", override, f"--workdir={tmp_path}/run")
  assert_clean_error(result, fragment)
  assert not (tmp_path / "run" / "checkpoints").exists()


def test_batch_not_divisible_by_devices(tmp_path):
  result = run("flood_jax.main", "--config=configs/test.py", "--config.batch_size=4", f"--workdir={tmp_path}/run",
               env={"XLA_FLAGS": "--xla_force_host_platform_device_count=3"})  # fmt: skip
  assert_clean_error(result, "config.batch_size=4", "3 devices")


def test_predict_one_band_file_and_bad_outputs(trained_workdir, tmp_path):
  one_band = tmp_path / "one.tif"
  with rasterio.open(
    one_band, "w", driver="GTiff", height=8, width=8, count=1, dtype="float32"
  ) as dataset:
    dataset.write(np.zeros((1, 8, 8), np.float32))
  result = run(
    "flood_jax.predict",
    f"--workdir={trained_workdir}",
    f"--input={one_band}",
    f"--output={tmp_path}/flood.tif",
  )
  assert_clean_error(result, "one.tif", "one band and no partner")
  assert not list(tmp_path.glob("*flood*"))
  two_band = tmp_path / "two.tif"
  with rasterio.open(
    two_band, "w", driver="GTiff", height=16, width=16, count=2, dtype="float32"
  ) as dataset:  # VV -10 dB, VH -17 dB: plainly Sentinel-1 in dB
    dataset.write(np.stack([np.full((16, 16), -10.0), np.full((16, 16), -17.0)]).astype(np.float32))
  result = run(
    "flood_jax.predict",
    f"--workdir={trained_workdir}",
    f"--input={two_band}",
    f"--output={tmp_path}/no/flood.tif",
  )
  assert_clean_error(result, "does not exist")
  result = run(
    "flood_jax.predict",
    f"--workdir={trained_workdir}",
    f"--input={two_band}",
    "--output=/proc/flood.tif",
  )
  assert_clean_error(result, "not writable")


def test_evaluate_without_checkpoint(tile_store, tmp_path):
  from configs import test as test_config

  workdir = tmp_path / "untrained"
  workdir.mkdir()
  (workdir / "config.json").write_text(test_config.get_config().to_json())
  shutil.copy(tile_store / "stats.json", workdir / "stats.json")
  result = run("flood_jax.evaluate", f"--workdir={workdir}", "--split=test")
  assert_clean_error(result, "untrained", "no checkpoint")
  result = run("flood_jax.evaluate", f"--workdir={tmp_path}/nothing", "--split=test")
  assert_clean_error(result, "nothing", "no config.json")


@pytest.mark.parametrize(
  "program, arguments, fragment",
  [
    ("flood_jax.main", ["--config=configs/test.py"], "--workdir is required"),
    ("flood_jax.main", ["--workdir=x"], "--config is required"),
    ("flood_jax.predict", ["--output=x.tif"], "--input (or --vv and --vh, or --stac) is required"),
    ("flood_jax.preprocess", [], "--output is required"),
    ("flood_jax.evaluate", [], "--data_root is required"),
    (
      "flood_jax.main",
      ["--config=configs/test.py", "--workdir=x", "extra"],
      "unexpected arguments",
    ),
  ],
)
def test_missing_flags_and_stray_arguments_are_one_line(tmp_path, program, arguments, fragment):
  """Every program reports usage errors the same way (one line, exit status 2)."""
  result = run(program, *arguments)
  assert_clean_error(result, fragment)
  assert result.returncode == 2


def test_bad_config_argument(tmp_path):
  result = run("flood_jax.main", "--config=configs/best.py:model=resnet", f"--workdir={tmp_path}")
  assert_clean_error(result, "model=resnet", "model=<unet|")
  assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
  "flag",
  [
    "--workers=-1",
    "--workers=0",
    "--resample_m=-10",
    "--resample_m=0.5",
    "--threads=0",
    "--batch_size=0",
    "--tile_size=0",
    "--overlap=-1",
    "--min_area_m2=-5",
    "--permanent_water_percent=150",
    "--retries=-1",
    "--hand_max_m=-1",
  ],
)
def test_out_of_range_flags_are_one_line_naming_the_flag(flag):
  """Every numeric flag has a checked range (a negative --workers used to hang for good)."""
  result = run("flood_jax.predict", "--input=x.tif", "--output=x_flood.tif", flag)
  assert_clean_error(result, flag)
  assert result.returncode == 2


def test_resampling_finer_than_half_the_input_pixels_is_refused(tmp_path):
  """--resample_m=2 on a 10 m scene would make 25 pixels of each (and 88 Mpx of a chip at
  0.5 m); refused in one line before anything is written."""
  import rasterio
  from rasterio.transform import from_origin

  scene = tmp_path / "scene.tif"
  values = np.full((2, 64, 64), -12.0, np.float32)
  with rasterio.open(scene, "w", driver="GTiff", height=64, width=64, count=2, dtype="float32",
                     crs="EPSG:32633", transform=from_origin(500_000, 5_000_000, 10, 10)) as out:  # fmt: skip
    out.write(values)
  result = run("flood_jax.predict", f"--input={scene}", f"--output={tmp_path / 'map.tif'}",
               "--resample_m=2")  # fmt: skip
  assert_clean_error(result, "--resample_m=2 is finer than half the input's 10.0 m pixels")
  assert result.returncode == 2 and not list(tmp_path.glob("*map*"))


def test_help_lists_every_flag_a_user_may_need():
  """--help used to hide the model's flags and --verbose (only --helpfull showed them)."""
  result = run("flood_jax.predict", "--help")
  for flag in ("--model", "--engine", "--precision", "--threads", "--[no]flips", "--min_area_m2",
               "--max_water_caps", "--[no]verbose", "--input", "--workers"):  # fmt: skip
    assert flag in result.stdout, flag


def test_predict_says_the_scale_decision_and_what_the_model_was_trained_on(real_root, tmp_path):
  chip = real_root / "data/flood_events/HandLabeled/S1Hand/India_900498_S1Hand.tif"
  result = run("flood_jax.predict", f"--input={chip}", f"--output={tmp_path / 'map.tif'}")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "scale: db (values:" in result.stderr
  assert (
    "trained on: synthetic data (flood_jax.dataset.synthetic) and the real chips of "
    "sen1floods11, dfc2024, terramesh" in result.stderr
  )


def test_a_dask_run_prints_no_library_info_lines(real_root, tmp_path):
  """With --workers, 68 of 75 lines used to be Dask INFO lines; --verbose shows them."""
  listing = tmp_path / "one.txt"
  listing.write_text(
    str(real_root / "data/flood_events/HandLabeled/S1Hand/India_900498_S1Hand.tif")
  )
  result = run("flood_jax.predict", f"--input={listing}", f"--output={tmp_path / 'maps'}",
               "--workers=1")  # fmt: skip
  assert result.returncode == 0, result.stderr[-2000:]
  library = [line for line in result.stderr.splitlines() if "distributed" in line]
  assert not library, library[:5]


def test_an_existing_folder_as_the_output_of_one_scene_is_one_line(real_root, tmp_path):
  """--output=existing_dir/ --overwrite used to end in IsADirectoryError after the mapping."""
  chip = real_root / "data/flood_events/HandLabeled/S1Hand/India_900498_S1Hand.tif"
  (tmp_path / "maps").mkdir()
  result = run("flood_jax.predict", f"--input={chip}", f"--output={tmp_path / 'maps'}",
               "--overwrite")  # fmt: skip
  assert_clean_error(result, "is a folder; give the path of a file to write")
  assert result.returncode == 2 and not list((tmp_path / "maps").iterdir())


def test_a_truncated_scene_alone_is_one_line(real_root, tmp_path):
  """A truncated GeoTIFF given alone to predict was a traceback (exit 1), whether its scale
  sample or its windows met the missing blocks."""
  data = (real_root / "data/flood_events/HandLabeled/S1Hand/India_900498_S1Hand.tif").read_bytes()
  for name, size in (("early.tif", 600_000), ("late.tif", len(data) - 100_000)):
    (tmp_path / name).write_bytes(data[:size])
    result = run(
      "flood_jax.predict", f"--input={tmp_path / name}", f"--output={tmp_path / 'out.tif'}"
    )
    assert result.returncode == 2, result.stderr[-1500:]
    assert_clean_error(result, f"{name}: cannot read pixels, the file may be truncated")
    assert not (tmp_path / "out.tif").exists() and not list(tmp_path.glob("*.partial*"))


def test_no_library_warning_reaches_the_console_in_an_ordinary_run(real_root, tmp_path):
  """With Python's warnings shown, an ordinary map (a pre-event scene, every product) and the
  API's map print no library warning (every --pre_event run printed a numpy RuntimeWarning,
  every .map() four PendingDeprecationWarnings of affine); course --help names its own --output."""
  import rasterio

  chip = real_root / "data/flood_events/HandLabeled/S1Hand/India_900498_S1Hand.tif"
  with rasterio.open(chip) as dataset:
    bands, profile = dataset.read(), dataset.profile
  with rasterio.open(tmp_path / "before.tif", "w", **profile) as dataset:
    dataset.write(bands + 3.0)
  shown = {"PYTHONWARNINGS": "default"}
  result = run("flood_jax.predict", f"--input={chip}", f"--pre_event={tmp_path / 'before.tif'}",
               f"--output={tmp_path / 'flood.tif'}", "--probability", "--vectors=.gpkg",
               f"--report={tmp_path / 'flood.html'}", env=shown)  # fmt: skip
  assert result.returncode == 0, result.stderr[-2000:]
  assert "Warning" not in result.stderr and "findfont" not in result.stderr, result.stderr[-2000:]
  script = (
    "import sys, rasterio, flood_jax\n"
    "bands = rasterio.open(sys.argv[1]).read()\n"
    "flood_jax.load_model().map(bands[0], bands[1])\n"
  )
  mapped = subprocess.run([sys.executable, "-W", "default", "-c", script, str(chip)],
                          capture_output=True, text=True)  # fmt: skip
  assert mapped.returncode == 0 and "Warning" not in mapped.stderr, mapped.stderr[-2000:]
  helped = run("flood_jax.course", "--help")
  assert "--output: Folder of the course" in helped.stdout + helped.stderr
