"""Many scenes on a Dask LocalCluster of 2 workers: the same bytes as serial mapping, a worker
killed mid-scene, reruns that skip finished scenes, and a corrupt scene that fails alone."""

import csv
import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from flood_jax.dataset.synthetic import synthesize_scene
from flood_jax.mapping.loading import BUNDLED_MODEL
from flood_jax.products import batch

pytest.importorskip("distributed")

SIZES = {"scene_a": (260, 240), "scene_b": (300, 200), "scene_c": (220, 330), "victim": (900, 800)}
JOB = batch.ListJob(probability=True)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
  folder = tmp_path_factory.mktemp("scenes")
  for index, (name, shape) in enumerate(SIZES.items()):
    synthetic = synthesize_scene(np.random.default_rng(index), shape, nodata=False)
    with rasterio.open(folder / f"{name}.tif", "w", driver="GTiff", height=shape[0],
                       width=shape[1], count=2, dtype="float32", crs="EPSG:32633",
                       transform=from_origin(300000, 5000000, 10, 10)) as dataset:  # fmt: skip
      dataset.write(np.moveaxis(synthetic.vv_vh_db, -1, 0))
  return folder


@pytest.fixture(scope="module")
def client():
  dask_client = batch.dask_client(workers=2, scheduler=None, retries=2)
  yield dask_client
  dask_client.close()
  dask_client.cluster.close()


def _maps(folder: Path) -> dict[str, bytes]:
  return {path.name: path.read_bytes() for path in sorted(folder.glob("*_flood*.tif"))}


def _rows(folder: Path) -> dict[str, dict]:
  return {row["scene"]: row for row in csv.DictReader((folder / "summary.csv").open())}


def test_dask_maps_equal_serial_maps_and_reruns_skip(scenes, model_folder, client, tmp_path):
  model = batch.ModelSpec(str(model_folder), threads=1)
  specs = batch.list_scenes(str(scenes))
  assert [spec.name for spec in specs] == sorted(SIZES)
  serial = batch.run_serial(specs, model, tmp_path / "serial", JOB, show_progress=False)
  distributed = batch.run_dask(specs, model, tmp_path / "dask", JOB, client, retries=2,
                               show_progress=False)  # fmt: skip
  for folder, rows in ((tmp_path / "serial", serial), (tmp_path / "dask", distributed)):
    assert batch.report(rows, batch.write_summary(rows, folder))
  assert len(_maps(tmp_path / "serial")) == 2 * len(SIZES)  # map and probability of each
  assert _maps(tmp_path / "serial") == _maps(tmp_path / "dask")
  workers = {row["worker"] for row in _rows(tmp_path / "dask").values()}
  assert len(workers) == 2, workers  # both workers took scenes
  again = batch.run_dask(specs, model, tmp_path / "dask", JOB, client, retries=2,
                         show_progress=False)  # fmt: skip
  assert {row["status"] for row in again} == {"skipped (complete)"}


def test_a_worker_killed_mid_scene_is_replaced_and_nothing_is_left_half_written(
  scenes, model_folder, client, tmp_path
):
  from distributed.diagnostics.plugin import WorkerPlugin

  marker = tmp_path / "kill-once"
  marker.touch()

  class KillOnceMidScene(WorkerPlugin):
    """Ends the worker process 0.5 s into its first attempt at the victim scene."""

    def transition(self, key, start, finish, **kwargs):
      if finish == "executing" and "victim" in str(key) and marker.exists():
        marker.unlink()
        import threading

        threading.Timer(0.5, lambda: os._exit(1)).start()

  client.register_plugin(KillOnceMidScene(), name="kill-once")
  try:
    model = batch.ModelSpec(str(model_folder), threads=1)
    rows = batch.run_dask(batch.list_scenes(str(scenes)), model, tmp_path / "out", JOB, client,
                          retries=2, show_progress=False)  # fmt: skip
  finally:
    client.unregister_worker_plugin("kill-once")
  assert not marker.exists(), "the plugin never fired"
  assert batch.report(rows, batch.write_summary(rows, tmp_path / "out"))
  assert {row["status"] for row in rows} == {"done"}
  assert len(_maps(tmp_path / "out")) == 2 * len(SIZES)
  assert not [path for path in (tmp_path / "out").iterdir() if "partial" in path.name]


def test_a_corrupt_scene_fails_alone(scenes, model_folder, client, tmp_path):
  listing = tmp_path / "scenes.txt"
  corrupt = tmp_path / "corrupt.tif"
  corrupt.write_bytes(b"II*\x00 this is not a GeoTIFF")
  inputs = [str(scenes / f"{name}.tif") for name in ("scene_a", "scene_b", "scene_c")]
  listing.write_text("# three good scenes and a bad one\n" + "\n".join([*inputs, str(corrupt)]))
  model = batch.ModelSpec(str(model_folder), threads=1)
  rows = batch.run_dask(batch.list_scenes(str(listing)), model, tmp_path / "out", JOB, client,
                        retries=2, show_progress=False)  # fmt: skip
  assert not batch.report(rows, batch.write_summary(rows, tmp_path / "out"))
  summary = _rows(tmp_path / "out")
  assert summary["corrupt"]["status"] == "failed" and "corrupt.tif" in summary["corrupt"]["error"]
  assert all(summary[name]["status"] == "done" for name in ("scene_a", "scene_b", "scene_c"))
  assert float(summary["scene_a"]["valid_pixels"]) > 0 and summary["scene_a"]["water_km2"]
  assert not (tmp_path / "out" / "corrupt_flood.tif").exists()


def test_stac_item_collection_lists_vv_and_vh_assets(scenes, tmp_path):
  import json

  folder = tmp_path / "assets"
  folder.mkdir()
  with rasterio.open(scenes / "scene_a.tif") as dataset:
    profile, bands = dataset.profile, dataset.read()
  profile.update(count=1)
  features = []
  for index in range(2):
    for band, name in enumerate(("vv", "vh")):
      with rasterio.open(folder / f"item{index}_{name}.tif", "w", **profile) as out:
        out.write(10 ** (bands[band : band + 1] / 10))  # linear, as Planetary Computer
    features.append({
      "type": "Feature", "stac_version": "1.1.0", "id": f"S1A_item{index}", "properties": {
        "datetime": "2023-01-05T12:34:56Z"}, "geometry": None, "links": [],
      "assets": {name: {"href": f"assets/item{index}_{name}.tif"} for name in ("vv", "vh")},
    })  # fmt: skip
  listing = tmp_path / "items.json"
  listing.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
  specs = batch.list_scenes(str(listing))
  assert [spec.name for spec in specs] == ["S1A_item0", "S1A_item1"]
  assert specs[0].vv == str(folder / "item0_vv.tif") and specs[0].vh.endswith("item0_vh.tif")


def test_one_bad_scene_fails_alone_and_the_batch_goes_on(real_root, tmp_path):
  """A truncated TIFF (a library's RasterioIOError, not a project error) between good scenes
  used to end the serial batch in a traceback with no summary.csv; now it is that scene's failed
  row naming its file, the others are mapped, and summary.csv keeps everything."""
  import flood_jax

  chips = real_root / "data/flood_events/HandLabeled/S1Hand"
  folder = tmp_path / "scenes"
  folder.mkdir()
  good = [chips / "India_900498_S1Hand.tif", chips / "Mekong_333434_S1Hand.tif"]
  (folder / "a_good.tif").write_bytes(good[0].read_bytes())
  data = good[1].read_bytes()
  (folder / "b_truncated.tif").write_bytes(data[: len(data) // 2])
  (folder / "c_good.tif").write_bytes(good[1].read_bytes())
  seen = []
  rows = batch.run_serial(batch.list_scenes(str(folder)), batch.ModelSpec(str(BUNDLED_MODEL)),
                          tmp_path / "maps", batch.ListJob(), False, lambda rows: seen.append(len(rows)))  # fmt: skip
  assert [row["status"] for row in rows] == ["done", "failed", "done"]
  assert str(folder / "b_truncated.tif") in rows[1]["error"] and "\n" not in rows[1]["error"]
  assert seen == [1, 2, 3]  # summary.csv can be written as each row finishes
  again = flood_jax.map_scenes(str(folder), tmp_path / "maps")
  by_scene = {row["scene"]: row for row in again}
  assert by_scene["a_good"]["status"] == "skipped (complete)"
  assert by_scene["a_good"]["water_km2"] == pytest.approx(rows[0]["water_km2"])  # kept areas
  written = _rows(tmp_path / "maps")
  assert written["a_good"]["water_km2"] != "" and written["b_truncated"]["status"] == "failed"


def test_inputs_sharing_a_name_keep_a_map_each(real_root, tmp_path):
  """eventA/scene.tif and eventB/scene.tif used to write one scene_flood.tif (eventB's) with
  both rows done; each now keeps its own map, the names stable across reruns."""
  import flood_jax

  chips = real_root / "data/flood_events/HandLabeled/S1Hand"
  for event, chip in (("eventA", "India_900498"), ("eventB", "Mekong_333434")):
    (tmp_path / event).mkdir()
    (tmp_path / event / "scene.tif").write_bytes((chips / f"{chip}_S1Hand.tif").read_bytes())
  listing = tmp_path / "scenes.txt"
  listing.write_text(f"{tmp_path / 'eventA/scene.tif'}\n{tmp_path / 'eventB/scene.tif'}\n")
  rows = flood_jax.map_scenes(str(listing), tmp_path / "maps")
  maps = sorted((tmp_path / "maps").glob("*_flood.tif"))
  assert len(maps) == 2 and [row["status"] for row in rows] == ["done", "done"]
  assert rows[0]["water_km2"] != pytest.approx(rows[1]["water_km2"])  # two different scenes
  again = flood_jax.map_scenes(str(listing), tmp_path / "maps")
  assert {row["status"] for row in again} == {"skipped (complete)"}


def test_an_output_folder_holding_an_input_is_refused(real_root, tmp_path):
  """--input=FOLDER --output=FOLDER used to map, then map its own outputs on the rerun."""
  import flood_jax
  from flood_jax.errors import UsageError

  chip = real_root / "data/flood_events/HandLabeled/S1Hand/India_900498_S1Hand.tif"
  (tmp_path / "scene.tif").write_bytes(chip.read_bytes())
  with pytest.raises(UsageError, match="holds the input"):
    flood_jax.map_scenes(str(tmp_path), tmp_path)
  assert not list(tmp_path.glob("*_flood*"))


def test_a_single_stac_item_is_a_list_of_one(tmp_path):
  """A STAC Item (not a collection) used to end in a STACTypeError traceback."""
  import json

  item = {
    "type": "Feature", "stac_version": "1.0.0", "id": "S1A_scene", "properties":
    {"datetime": "2026-11-30T05:00:00Z"}, "geometry": None, "links": [],
    "assets": {"vv": {"href": "vv.tif"}, "vh": {"href": "vh.tif"}},
  }  # fmt: skip
  (tmp_path / "item.json").write_text(json.dumps(item))
  (scene,) = batch.list_scenes(str(tmp_path / "item.json"))
  assert scene.name == "S1A_scene" and scene.vv == str(tmp_path / "vv.tif")
  (tmp_path / "bad.json").write_text('{"type": "Catalog"}')
  with pytest.raises(Exception, match="not a STAC ItemCollection or Item"):
    batch.list_scenes(str(tmp_path / "bad.json"))


def test_an_output_folder_that_cannot_be_written_is_one_line(real_root, tmp_path):
  """A read-only folder of maps (or a file where it should be) used to end in an OSError
  traceback after the first scene; it is refused before any work."""
  import flood_jax
  from flood_jax.errors import UsageError

  chip = real_root / "data/flood_events/HandLabeled/S1Hand/India_900498_S1Hand.tif"
  (tmp_path / "scenes").mkdir()
  (tmp_path / "scenes" / "india.tif").write_bytes(chip.read_bytes())
  (tmp_path / "a_file").write_text("not a folder")
  with pytest.raises(UsageError, match="cannot write maps there"):
    flood_jax.map_scenes(str(tmp_path / "scenes"), tmp_path / "a_file")
  if os.geteuid() != 0:  # root writes to read-only folders
    (tmp_path / "read_only").mkdir(mode=0o500)
    with pytest.raises(UsageError, match="cannot write maps there"):
      flood_jax.map_scenes(str(tmp_path / "scenes"), tmp_path / "read_only")


def test_a_rerun_with_other_layers_or_options_redoes_the_map(real_root, tmp_path):
  """A rerun skipped any map whose input and model were the same, so one made without the
  exclusion layer a rerun now names was kept and reported complete. The options and the layer
  files (name, size, time) are now in the map's tags: other layers, a changed layer file or
  another option redo the map; the same run again, or an option that does nothing without its
  layer, still skips it."""
  import os

  import flood_jax

  chip = real_root / "data/flood_events/HandLabeled/S1Hand/India_900498_S1Hand.tif"
  with rasterio.open(chip) as dataset:
    profile = {"driver": "GTiff", "height": dataset.height, "width": dataset.width, "count": 1,
               "dtype": "uint8", "crs": dataset.crs, "transform": dataset.transform}  # fmt: skip
  layer = tmp_path / "exclusion.tif"

  def write_layer(columns):
    excluded = np.zeros((profile["height"], profile["width"]), np.uint8)
    excluded[:, :columns] = 1
    with rasterio.open(layer, "w", **profile) as out:
      out.write(excluded[None])

  def statuses(**options):
    rows = flood_jax.map_scenes([chip], tmp_path / "maps", **options)
    with rasterio.open(tmp_path / "maps" / "India_900498_S1Hand_flood.tif") as dataset:
      excluded = (dataset.read(1) == 3).mean()
    return [row["status"] for row in rows], round(float(excluded), 2)

  assert statuses() == (["done"], 0.0)
  assert statuses() == (["skipped (complete)"], 0.0)
  write_layer(256)
  assert statuses(exclusion=str(layer)) == (["done"], 0.5)
  assert statuses(exclusion=str(layer)) == (["skipped (complete)"], 0.5)
  write_layer(128)
  os.utime(layer, ns=(1, 1))  # a changed layer file, whatever the clock's resolution
  assert statuses(exclusion=str(layer)) == (["done"], 0.25)
  assert statuses(exclusion=str(layer), hand_max_m=10.0) == (
    ["skipped (complete)"],
    0.25,
  )  # no --hand
  assert statuses(exclusion=str(layer), overlap=32) == (["done"], 0.25)
