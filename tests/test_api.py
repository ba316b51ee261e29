"""The Python API (`flood_jax.load_model`, `FloodModel.map`, `map_scene`, `map_scenes`) and
`flood_jax.xarray.map_floods` give the command line's maps, and its one-line errors."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

import flood_jax
from flood_jax.errors import DataError, UsageError

PROJECT = Path(__file__).resolve().parents[1]


def run(*arguments):
  return subprocess.run(
    [sys.executable, *arguments],
    cwd=PROJECT,
    env=dict(os.environ, JAX_PLATFORMS="cpu"),
    capture_output=True,
    text=True,
    timeout=600,
  )


def hand_chips(real_root: Path) -> list[Path]:
  """The real chips with a value (Paraguay_34417 is NaN everywhere: no map is made of it)."""
  chips = sorted(real_root.glob("data/flood_events/HandLabeled/S1Hand/*_S1Hand.tif"))
  return [chip for chip in chips if not chip.name.startswith("Paraguay_34417")]


def read_bands(path: Path):
  with rasterio.open(path) as dataset:
    bands = dataset.read([1, 2]).astype(np.float32)
    return bands[0], bands[1], dataset.crs, dataset.transform


def read_classes(path: Path) -> np.ndarray:
  with rasterio.open(path) as dataset:
    return dataset.read(1)


@pytest.fixture(scope="module")
def model():
  return flood_jax.load_model()


@pytest.fixture(scope="module")
def cli_maps(real_root, tmp_path_factory) -> dict[str, np.ndarray]:
  """The real chips mapped by `python -m flood_jax.predict` (one process, a .txt list)."""
  folder = tmp_path_factory.mktemp("cli")
  listing = folder / "chips.txt"
  listing.write_text("\n".join(str(path) for path in hand_chips(real_root)))
  result = run("-m", "flood_jax.predict", f"--input={listing}", f"--output={folder / 'maps'}")
  assert result.returncode == 0, result.stderr[-2000:]
  return {path.stem: read_classes(folder / "maps" / f"{path.stem}_flood.tif") for path in hand_chips(real_root)}  # fmt: skip


def test_model_map_and_map_scene_give_the_cli_classes_on_real_chips(
  real_root, cli_maps, model, tmp_path
):
  water = 0
  for path in hand_chips(real_root):
    vv, vh, crs, transform = read_bands(path)
    mapped = model.map(vv, vh, crs=crs, transform=transform)
    np.testing.assert_array_equal(mapped.classes, cli_maps[path.stem], err_msg=path.name)
    assert mapped.probability.dtype == np.float32 and mapped.crs == crs
    assert np.array_equal(np.isnan(mapped.probability), mapped.classes == 255)
    summary = flood_jax.map_scene(path, tmp_path / f"{path.stem}.tif", model=model)
    np.testing.assert_array_equal(read_classes(tmp_path / f"{path.stem}.tif"), cli_maps[path.stem])
    assert summary["valid_pixels"] == int((mapped.classes != 255).sum())
    water += int(mapped.water.sum())
  assert water > 10_000  # the chips hold water: the comparison is not of empty maps


def test_map_floods_over_256_px_dask_chunks_keeps_the_cli_classes_and_the_crs(
  real_root, cli_maps, model
):
  rioxarray = pytest.importorskip("rioxarray")
  import flood_jax.xarray

  for path in hand_chips(real_root):
    stack = rioxarray.open_rasterio(path, chunks={"x": 256, "y": 256})
    vv, vh = stack.sel(band=1, drop=True), stack.sel(band=2, drop=True)
    floods = flood_jax.xarray.map_floods(vv, vh, model=model)
    assert floods.flood.chunks is not None  # lazy until computed
    classes = floods.flood.values
    agreement = (classes == cli_maps[path.stem]).mean()
    assert agreement >= 0.999, (path.name, agreement)
    assert floods.rio.crs == stack.rio.crs
    assert floods.rio.transform() == stack.rio.transform()
    assert floods.flood.rio.nodata == 255 and floods.probability.dtype == np.float32


def test_map_floods_agrees_where_its_windows_fall_elsewhere_than_the_cli_s(real_root, model):
  """On a 1024² mosaic of four chips the chunks' windows are not the whole scene's, so
  probabilities differ a little where context changes abruptly (the seams); classes agree on
  >= 99% of pixels (99.94% with the synthetic-only model at threshold 0.95, 99.6% with the
  real-trained one at 0.5, where more pixels lie near the threshold)."""
  xarray = pytest.importorskip("xarray")
  pytest.importorskip("rioxarray")
  from rasterio.transform import from_origin

  import flood_jax.xarray

  chips = [read_bands(path)[:2] for path in hand_chips(real_root)]
  picked = [np.stack(chips[index]) for index in (3, 5, 4, 2)]
  mosaic = np.concatenate(
    [np.concatenate(picked[:2], axis=2), np.concatenate(picked[2:], axis=2)], axis=1
  )
  transform = from_origin(500_000, 2_000_000, 10, 10)
  coords = {"y": 2_000_000 - 5 - 10 * np.arange(1024), "x": 500_005 + 10 * np.arange(1024)}
  bands = [
    xarray.DataArray(band, dims=("y", "x"), coords=coords).rio.write_crs("EPSG:32633")
    for band in mosaic
  ]
  whole = model.map(mosaic[0], mosaic[1], crs="EPSG:32633", transform=transform)
  floods = flood_jax.xarray.map_floods(*(band.chunk(256) for band in bands), model=model)
  agreement = (floods.flood.values == whole.classes).mean()
  assert agreement >= 0.99, agreement
  assert (whole.classes == 1).mean() > 0.05


def test_map_floods_maps_a_time_stack_step_by_step(real_root, model):
  xarray = pytest.importorskip("xarray")
  rioxarray = pytest.importorskip("rioxarray")
  import flood_jax.xarray

  path = hand_chips(real_root)[3]  # India: about half water
  stack = rioxarray.open_rasterio(path).astype(np.float32)
  brighter = stack + 6.0  # a later acquisition with rougher, brighter water
  series = xarray.concat([stack, brighter], dim="time").assign_coords(time=[0, 1])
  series = series.chunk({"time": 1, "x": 256, "y": 256})
  floods = flood_jax.xarray.map_floods(
    series.sel(band=1, drop=True), series.sel(band=2, drop=True), model=model
  )
  assert floods.flood.dims == ("time", "y", "x")
  for step in (0, 1):
    alone = flood_jax.xarray.map_floods(
      series.isel(time=step).sel(band=1, drop=True),
      series.isel(time=step).sel(band=2, drop=True),
      model=model,
    )
    np.testing.assert_array_equal(floods.flood.isel(time=step).values, alone.flood.values)
  water = [(floods.flood.isel(time=step).values == 1).mean() for step in (0, 1)]
  assert water[1] < water[0]  # the steps are mapped from their own pixels


def test_the_onnx_path_imports_neither_jax_nor_flax(real_root):
  chip = hand_chips(real_root)[3]
  script = (
    "import sys, rasterio, flood_jax\n"
    f"bands = rasterio.open({str(chip)!r}).read([1, 2]).astype('float32')\n"
    "mapped = flood_jax.load_model().map(bands[0], bands[1])\n"
    "print((mapped.classes == 1).sum(), [m for m in ('jax', 'flax') if m in sys.modules])\n"
  )
  result = run("-c", script)
  assert result.returncode == 0, result.stderr[-2000:]
  water, imported = result.stdout.split(maxsplit=1)
  assert int(water) > 0 and imported.strip() == "[]"


def test_map_scenes_maps_a_list_and_reports_each_scene(real_root, model, tmp_path):
  chips = hand_chips(real_root)[2:4]
  rows = flood_jax.map_scenes([*chips, tmp_path / "missing.tif"], tmp_path / "maps", model=model)
  assert [row["status"] for row in rows] == ["done", "done", "failed"]
  assert "missing.tif" in rows[2]["error"]
  assert (tmp_path / "maps" / "summary.csv").exists()
  again = flood_jax.map_scenes(chips, tmp_path / "maps", model=model)
  assert {row["status"] for row in again} == {"skipped (complete)"}


def test_bad_input_raises_the_cli_s_one_line_errors(tmp_path, model):
  xarray = pytest.importorskip("xarray")
  pytest.importorskip("rioxarray")
  import flood_jax.xarray

  (tmp_path / "not_a_model").mkdir()
  with pytest.raises(UsageError) as api_error:
    flood_jax.load_model(tmp_path / "not_a_model")
  result = run("-m", "flood_jax.predict", f"--model={tmp_path / 'not_a_model'}",
               "--input=x.tif", f"--output={tmp_path / 'x.tif'}")  # fmt: skip
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1] == f"error: {api_error.value}"

  band = xarray.DataArray(np.zeros((64, 64), np.float32) - 15, dims=("y", "x"))
  with pytest.raises(DataError, match="has no CRS"):
    flood_jax.xarray.map_floods(band, band, model=model)
  located = band.assign_coords(y=np.arange(64.0), x=np.arange(64.0)).rio.write_crs("EPSG:32633")
  with pytest.raises(DataError, match="not on VV's grid"):
    flood_jax.xarray.map_floods(located, located.isel(x=slice(0, 32)), model=model)
  with pytest.raises(DataError, match="not on VV's grid"):
    model.map(np.zeros((64, 64)), np.zeros((64, 32)))
  with pytest.raises(UsageError, match="unknown mapping options"):
    flood_jax.map_scene("x.tif", tmp_path / "y.tif", model=model, tile=256)


def test_map_scenes_on_a_dask_client_writes_the_serial_maps(real_root, model, tmp_path):
  distributed = pytest.importorskip("distributed")
  chips = hand_chips(real_root)[3:5]
  serial = flood_jax.map_scenes(chips, tmp_path / "serial", model=model)
  cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                     dashboard_address=None)  # fmt: skip
  with cluster, distributed.Client(cluster) as client:
    rows = flood_jax.map_scenes(chips, tmp_path / "dask", model=model, client=client)
  assert [row["status"] for row in rows] == ["done", "done"]
  assert [row["valid_pixels"] for row in rows] == [row["valid_pixels"] for row in serial]
  for chip in chips:
    name = f"{chip.stem}_flood.tif"
    np.testing.assert_array_equal(
      read_classes(tmp_path / "dask" / name), read_classes(tmp_path / "serial" / name)
    )


def test_the_api_decides_the_scale_as_the_cli_does(real_root, cli_maps, model):
  """Power, amplitude and dB arrays of one chip give one map, each decision said; a scale
  given against the values, or values that are no backscatter, are the CLI's one-line errors
  (power arrays used to map 0% water, scale="power" on dB arrays all no data)."""
  path = real_root / "data/flood_events/HandLabeled/S1Hand/India_900498_S1Hand.tif"
  vv, vh, crs, transform = read_bands(path)
  as_db = model.map(vv, vh, crs=crs, transform=transform)
  np.testing.assert_array_equal(as_db.classes, cli_maps[path.stem])
  assert as_db.scale == "db" and "negative" in as_db.scale_reason
  for scale, convert in (
    ("power", lambda db: 10 ** (db / 10)),
    ("amplitude", lambda db: 10 ** (db / 20)),
  ):
    mapped = model.map(convert(vv), convert(vh), crs=crs, transform=transform)
    assert mapped.scale == scale, mapped.scale_reason
    assert (mapped.classes == as_db.classes).mean() > 0.999, scale  # float32 round trips
  with pytest.raises(DataError, match="scale=power, but 100% of the valid values are negative"):
    model.map(vv, vh, scale="power")
  assert model.map(vv, vh, scale="db", trust_scale=True).scale_reason == "scale=db, trusted"
  for bad in (vv > -15, (vv > -15).astype(np.uint8) * 255):
    with pytest.raises(DataError):
      model.map(bad, bad)
  with pytest.raises(DataError, match="VV array: bool values; expected backscatter"):
    model.map(vv > -15, vh > -15)
  with pytest.raises(DataError, match=r"VV array: empty \(0 x 5\); expected at least one pixel"):
    model.map(np.zeros((0, 5)), np.zeros((0, 5)))
  tiny = model.map(vv[:1, :1], vh[:1, :1])  # one pixel maps (under the unit: never water)
  assert tiny.classes.shape == (1, 1) and tiny.classes[0, 0] in (0, 255)


def test_map_floods_decides_the_scale_of_power_dataarrays(real_root, cli_maps, model):
  rioxarray = pytest.importorskip("rioxarray")
  import flood_jax.xarray

  path = real_root / "data/flood_events/HandLabeled/S1Hand/India_900498_S1Hand.tif"
  stack = rioxarray.open_rasterio(path, chunks={"x": 256, "y": 256})
  power = 10 ** (stack / 10)
  floods = flood_jax.xarray.map_floods(power.sel(band=1, drop=True), power.sel(band=2, drop=True),
                                       model=model)  # fmt: skip
  assert floods.attrs["scale"] == "power" and "read as power" in floods.attrs["scale_reason"]
  assert (floods.flood.values == cli_maps[path.stem]).mean() > 0.999
  with pytest.raises(DataError, match="--scale=db reads the values as"):
    flood_jax.xarray.map_floods(power.sel(band=1, drop=True), power.sel(band=2, drop=True),
                                model=model, scale="db")  # fmt: skip


def test_bad_arguments_are_the_project_s_one_line_errors(real_root, model, tmp_path):
  """load_model(precision="int4") was a KeyError, a bad CRS a CRSError, probability="no"
  wrote the probability (a truthy string)."""
  chip = real_root / "data/flood_events/HandLabeled/S1Hand/India_900498_S1Hand.tif"
  with pytest.raises(UsageError, match="precision='int4': choose from auto, float32, int8"):
    flood_jax.load_model(precision="int4")
  with pytest.raises(UsageError, match="engine='gpu': choose from auto, xla, onnxruntime"):
    flood_jax.load_model(engine="gpu")
  band = np.full((64, 64), -20.0, np.float32)
  with pytest.raises(UsageError, match="crs='EPSG:999999': not a CRS PROJ knows"):
    model.map(band, band - 7, crs="EPSG:999999", transform=(10, 0, 0, 0, -10, 0))
  with pytest.raises(UsageError, match="transform=.* expected an affine transform"):
    model.map(band, band - 7, crs="EPSG:32633", transform="north up")
  with pytest.raises(UsageError, match="probability='no': expected True or False"):
    flood_jax.map_scene(chip, tmp_path / "flood.tif", probability="no")
  with pytest.raises(UsageError, match="report=1: expected True or False"):
    flood_jax.map_scenes([chip], tmp_path / "maps", report=1)
  assert not list(tmp_path.iterdir())
