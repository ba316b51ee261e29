"""Change detection: water after a fall of backscatter is flood, water before and after is
permanent, a surface as dark before is not flood; pixels without a pre-event value keep theirs."""

import numpy as np
import pytest

from flood_jax.mapping.change import ChangeRule, backscatter_drop, change_classes, smoothed_db


def test_each_case_of_the_rule():
  classes = np.array([[1, 1, 1, 1, 1, 0, 255]], np.uint8)
  water_before = np.array([[False, True, False, True, False, True, False]])
  drop = np.array([[2.0, 0.1, 0.2, 4.0, np.nan, 5.0, 5.0]], np.float32)
  changed = change_classes(classes, water_before, drop, ChangeRule(0.5, 3.0))
  # new water with a fall; water both times; dark both times; a strong fall over dark land the
  # model took for water; no pre-event value; dry after; no data after.
  np.testing.assert_array_equal(changed, [[1, 2, 0, 1, 1, 0, 255]])


def test_drop_is_of_mean_power_and_ignores_missing_pixels():
  before = np.full((5, 5, 2), -10.0, np.float32)
  after = np.full((5, 5, 2), -20.0, np.float32)
  after[2, 2, 0] = np.nan
  drop = backscatter_drop(before, after)
  assert np.isfinite(drop[2, 2]) and np.allclose(drop, 10.0, atol=1e-4)
  speckled = np.full((3, 3), -10.0, np.float32)
  speckled[1, 1] = 0.0  # ten times the power of its neighbours: the mean is of power, not dB
  assert np.isclose(smoothed_db(speckled)[1, 1], 10 * np.log10((8 * 0.1 + 1.0) / 9), atol=1e-5)


def _write_pair(folder, pair, crs="EPSG:32633"):
  import rasterio
  from rasterio.transform import from_origin

  paths = []
  for name, scene in (("before", pair.before), ("after", pair.after)):
    bands = np.moveaxis(scene.vv_vh_db, -1, 0)
    path = folder / f"{name}.tif"
    with rasterio.open(path, "w", driver="GTiff", height=bands.shape[1], width=bands.shape[2],
                       count=2, dtype="float32", crs=crs,
                       transform=from_origin(600000, 5000000, 10, 10)) as dataset:  # fmt: skip
      dataset.write(bands)
    paths.append(path)
  return paths


def _flood_scores(classes, pair):
  """(omission, commission) of flood water (1) against the water that is new after, over the
  pixels that are not permanent water."""
  flood = pair.after.water & ~pair.before.water
  judged = ~pair.before.water & (classes != 255)
  mapped = classes == 1
  omission = (flood & ~mapped & judged).sum() / (flood & judged).sum()
  commission = (mapped & ~flood & judged).sum() / (~flood & judged).sum()
  return omission, commission


def test_a_pre_event_scene_removes_dark_dry_land_and_keeps_rivers_permanent(model_folder,
                                                                            tmp_path):  # fmt: skip
  """A synthetic pair with dark dry land in both scenes: with the pre-event scene, flood
  commission falls and rivers (water before and after) are permanent water."""
  import json

  import rasterio

  from flood_jax.api import trained_model
  from flood_jax.dataset.synthetic import synthesize_pair
  from flood_jax.products.scene_map import MapOptions, Outputs, write_scene

  pair = synthesize_pair(np.random.default_rng(21), (300, 280), dark_fields=0.6)
  before, after = _write_pair(tmp_path, pair)
  model = trained_model(model_folder)
  results = {}
  for name, options in (("single", MapOptions(show_progress=False)),
                        ("change", MapOptions(pre_event=str(before), show_progress=False))):  # fmt: skip
    outputs = Outputs(tmp_path / f"{name}.tif")
    summary = write_scene(model, str(after), outputs, options)
    with rasterio.open(outputs.map) as dataset:
      results[name] = dataset.read(1), dataset.tags(), summary
  single, change = results["single"][0], results["change"][0]
  assert _flood_scores(change, pair)[1] < 0.5 * _flood_scores(single, pair)[1]
  assert (change[pair.before.water & (single == 1)] == 2).mean() > 0.8, "rivers are permanent"
  tags, summary = results["change"][1], results["change"][2]
  assert json.loads(tags["flood_jax_classes"])["2"] == "permanent water"
  assert json.loads(tags["flood_jax_pre_event"])["inputs"] == [str(before)]
  assert summary["pre_event"]["scale"] == "db" and "flood_km2" in summary
  item = json.loads((tmp_path / "change.json").read_text())
  assert item["properties"]["flood_jax:pre_event"]["scene"] == "before"


def test_a_pre_event_scene_on_another_grid_is_warped_onto_the_post_event_one(model_folder,
                                                                             tmp_path):  # fmt: skip
  """The pre-event scene in EPSG:4326 (about 9 m pixels) maps as the same scene on the
  post-event grid, but at a few pixels where averaged power moves the drop past a margin."""
  import rasterio
  from rasterio.warp import Resampling, calculate_default_transform, reproject

  from flood_jax.api import trained_model
  from flood_jax.dataset.synthetic import synthesize_pair
  from flood_jax.products.scene_map import MapOptions, Outputs, write_scene

  pair = synthesize_pair(np.random.default_rng(22), (260, 240))
  before, after = _write_pair(tmp_path, pair)
  with rasterio.open(before) as source:
    transform, width, height = calculate_default_transform(
      source.crs, "EPSG:4326", source.width, source.height, *source.bounds, resolution=8e-5
    )
    power = 10 ** (source.read() / 10)
    warped = np.full((2, height, width), np.nan, np.float32)
    reproject(power, warped, src_transform=source.transform, src_crs=source.crs,
              dst_transform=transform, dst_crs="EPSG:4326", dst_nodata=np.nan,
              resampling=Resampling.average)  # fmt: skip
  profile = dict(driver="GTiff", height=height, width=width, count=2, dtype="float32")
  with rasterio.open(tmp_path / "before_4326.tif", "w", crs="EPSG:4326", transform=transform,
                     nodata=0, **profile) as dataset:  # fmt: skip
    dataset.write(np.nan_to_num(warped, nan=0.0))  # power, 0 no data
  model = trained_model(model_folder)
  maps = {}
  for name, pre in (("same", before), ("warped", tmp_path / "before_4326.tif")):
    outputs = Outputs(tmp_path / f"{name}.tif")
    write_scene(model, str(after), outputs, MapOptions(pre_event=str(pre), show_progress=False))
    with rasterio.open(outputs.map) as dataset:
      maps[name] = dataset.read(1)
      assert dataset.crs == "EPSG:32633" and dataset.shape == (260, 240)
  valid = maps["same"] != 255
  inner = np.zeros_like(valid)
  inner[3:-3, 3:-3] = True  # the warped copy's edge pixels average fewer source pixels
  assert (maps["same"] == maps["warped"])[valid & inner].mean() > 0.95
  assert (maps["warped"][valid & inner] == 1).any() and (maps["warped"][valid & inner] == 2).any()


def test_bad_pre_event_scenes_are_one_line_and_no_output(model_folder, tmp_path):
  import rasterio
  from rasterio.transform import from_origin

  from flood_jax.dataset.synthetic import synthesize_pair
  from tests.test_cli_errors import assert_clean_error, run

  pair = synthesize_pair(np.random.default_rng(23), (64, 64))
  before, after = _write_pair(tmp_path, pair)
  far = tmp_path / "far.tif"
  hh_hv = tmp_path / "hh_hv.tif"
  bands = np.moveaxis(pair.before.vv_vh_db, -1, 0)
  for path, origin, names in ((far, 900000, None), (hh_hv, 600000, ["HH", "HV", "angle"])):
    count = 3 if names else 2
    with rasterio.open(path, "w", driver="GTiff", height=64, width=64, count=count,
                       dtype="float32", crs="EPSG:32633",
                       transform=from_origin(origin, 5000000, 10, 10)) as dataset:  # fmt: skip
      dataset.write(np.concatenate([bands, np.full((1, 64, 64), 38.0)])[:count])
      for index, name in enumerate(names or [], start=1):
        dataset.set_band_description(index, name)
  out = tmp_path / "out"
  out.mkdir()
  for pre, fragment in ((far, "far: the pre-event scene does not overlap"),
                        (hh_hv, "hh_hv.tif: bands ['HH', 'HV', 'ANGLE'] are HH/HV")):  # fmt: skip
    result = run("flood_jax.predict", f"--model={model_folder}", f"--input={after}",
                 f"--pre_event={pre}", f"--output={out / 'flood.tif'}")  # fmt: skip
    assert_clean_error(result, fragment)
    assert result.returncode == 2 and not list(out.iterdir())


def _write(path, vv_vh_db, origin_x):
  import rasterio
  from rasterio.transform import from_origin

  bands = np.moveaxis(vv_vh_db, -1, 0)
  with rasterio.open(path, "w", driver="GTiff", height=bands.shape[1], width=bands.shape[2],
                     count=2, dtype="float32", crs="EPSG:32633",
                     transform=from_origin(origin_x, 5000000, 10, 10)) as dataset:  # fmt: skip
    dataset.write(bands)
  return path


def test_a_list_of_scenes_is_compared_with_one_pre_event_scene(model_folder, tmp_path):
  """--pre_event with a list (a mosaic of the area before the flood): each scene maps as it
  does alone with that pre-event scene; a scene it does not overlap is that scene's failed row
  while the others go on; an unreadable pre-event scene or layer, or a pre-event scene that is
  also in the list, is one line before any work (exit 2, no output folder)."""
  import csv

  import rasterio

  from flood_jax.dataset.synthetic import synthesize_pair
  from tests.test_cli_errors import assert_clean_error, run

  pair = synthesize_pair(np.random.default_rng(5), (96, 160))
  before = _write(tmp_path / "before.tif", pair.before.vv_vh_db, 600000)
  scenes = tmp_path / "scenes"
  scenes.mkdir()
  _write(scenes / "west.tif", pair.after.vv_vh_db[:, :80], 600000)
  _write(scenes / "east.tif", pair.after.vv_vh_db[:, 80:], 600800)
  _write(scenes / "far.tif", pair.after.vv_vh_db[:, :80], 900000)
  model = f"--model={model_folder}"
  result = run("flood_jax.predict", model, f"--input={scenes}", f"--pre_event={before}",
               f"--output={tmp_path / 'maps'}")  # fmt: skip
  assert result.returncode == 1, result.stderr[-2000:]  # one scene failed
  rows = {row["scene"]: row for row in csv.DictReader((tmp_path / "maps/summary.csv").open())}
  assert rows["west"]["status"] == rows["east"]["status"] == "done"
  assert rows["far"]["status"] == "failed" and "does not overlap" in rows["far"]["error"]
  for name in ("west", "east"):
    single = tmp_path / f"{name}_alone.tif"
    alone = run("flood_jax.predict", model, f"--input={scenes / name}.tif",
                f"--pre_event={before}", f"--output={single}")  # fmt: skip
    assert alone.returncode == 0, alone.stderr[-2000:]
    with rasterio.open(tmp_path / f"maps/{name}_flood.tif") as listed, rasterio.open(single) as one:
      np.testing.assert_array_equal(listed.read(1), one.read(1))
      assert "flood_jax_pre_event" in listed.tags()
      assert 2 in np.unique(listed.read(1))  # the rivers, water before and after
  for flag, fragment in ((f"--pre_event={tmp_path / 'missing.tif'}", "missing.tif"),
                         (f"--pre_event={scenes / 'west.tif'}", "is the pre-event scene and a scene"),
                         (f"--exclusion={tmp_path / 'gone.tif'}", "gone.tif: exclusion raster not readable")):  # fmt: skip
    output = tmp_path / "refused"
    result = run("flood_jax.predict", model, f"--input={scenes}", flag, f"--output={output}")
    assert_clean_error(result, fragment)
    assert result.returncode == 2 and not output.exists()


def test_a_pre_event_scene_must_come_before_and_not_be_the_scene(model_folder, tmp_path, caplog):
  """A pre-event scene acquired 24 days after the post-event one (the two swapped) mapped
  6.96 km² of "flood", and one file given as both was accepted; now one line naming both, no
  output. A pre-event scene 90 days older maps, with a warning."""
  import logging

  from flood_jax.api import load_model, map_scene
  from flood_jax.dataset.synthetic import synthesize_pair
  from flood_jax.errors import UsageError
  from tests.test_cli_errors import assert_clean_error, run

  pair = synthesize_pair(np.random.default_rng(29), (64, 64))
  before, after = _write_pair(tmp_path, pair)
  out = tmp_path / "out"
  out.mkdir()
  result = run("flood_jax.predict", f"--model={model_folder}", f"--input={after}",
               "--acquired=2026-03-01T05:00:00Z", f"--pre_event={after}", f"--output={out / 'f.tif'}")  # fmt: skip
  assert result.returncode == 2
  assert_clean_error(result, "after.tif: is the post-event scene and the pre-event scene")
  model = load_model(model_folder)
  dated = tmp_path / "S1A_IW_20260325T050000_DVP_RTC10_G_gpuned_ABCD"
  dated.mkdir()
  for band, index in (("VV", 0), ("VH", 1)):  # a HyP3 product names its acquisition time
    _write(dated / f"{dated.name}_{band}.tif", pair.before.vv_vh_db[..., [index, index]], 600000)
  with pytest.raises(UsageError, match="acquired 2026-03-25T05:00:00.*not before the post-event"):
    map_scene(
      after, out / "f.tif", model=model, acquired="2026-03-01T05:00:00Z", pre_event=str(dated)
    )
  assert not list(out.iterdir())
  with caplog.at_level(logging.WARNING):
    map_scene(
      after, out / "f.tif", model=model, acquired="2026-06-23T05:00:00Z", pre_event=str(dated)
    )
  assert any("90 days older" in record.getMessage() for record in caplog.records)
