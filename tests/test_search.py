"""From an area and dates to maps: `flood_jax.search` and `predict --stac` against a STAC API on
the loopback (`tests/stac_api.py`), the items' `vv` and `vh` assets real chips in power."""

import csv
import datetime as dt
import json

import numpy as np
import pytest
import rasterio
import shapely
from rasterio.warp import transform_bounds
from stac_api import StacApi

import flood_jax
from experiments.handover_pictures import receding_scenes
from flood_jax.errors import DataError, UsageError

INDIA = "data/flood_events/HandLabeled/S1Hand/India_900498_S1Hand.tif"
GHANA = "data/flood_events/HandLabeled/S1Hand/Ghana_53713_S1Hand.tif"
COLLECTION = "sentinel-1-rtc"


def power_assets(scene, folder, name: str) -> tuple[dict, list[float]]:
  """The scene's VV and VH as two single-band power rasters (as Planetary Computer's RTC
  assets), and its bounds in degrees."""
  with rasterio.open(scene) as dataset:
    profile, bands = dataset.profile, dataset.read()
    bounds = transform_bounds(dataset.crs, "EPSG:4326", *dataset.bounds)
  profile.update(count=1, nodata=-32768)
  assets = {}
  for index, band in enumerate(("vv", "vh")):
    path = folder / f"{name}_{band}.tif"
    power = np.where(np.isfinite(bands[index]), 10 ** (bands[index] / 10), -32768)
    with rasterio.open(path, "w", **profile) as dataset:
      dataset.write(power[None].astype(np.float32))
    assets[band] = {"href": str(path), "type": "image/tiff; application=geotiff", "roles": ["data"]}
  return assets, list(bounds)


def item(item_id: str, when: str, assets: dict, bounds: list[float], collection=COLLECTION) -> dict:
  return {
    "type": "Feature",
    "stac_version": "1.0.0",
    "id": item_id,
    "collection": collection,
    "geometry": shapely.geometry.mapping(shapely.box(*bounds)),
    "bbox": bounds,
    "properties": {"datetime": when, "sar:product_type": "GRD" if "grd" in collection else "RTC"},
    "assets": assets,
    "links": [],
  }


@pytest.fixture(scope="module")
def items(real_root, tmp_path_factory) -> tuple[list[dict], list[float]]:
  """Two acquisitions of the India chip 12 days apart (the flood receding), one of them again in
  2019 (outside the dates) and the Ghana chip on the first date (outside the area)."""
  folder = tmp_path_factory.mktemp("items")
  first, second = receding_scenes(real_root / INDIA, folder, ["first", "second"])
  first_assets, bounds = power_assets(first, folder, "first")
  second_assets, _ = power_assets(second, folder, "second")
  ghana_assets, ghana_bounds = power_assets(real_root / GHANA, folder, "ghana")
  found = [
    item("S1_second", "2016-08-13T11:50:00Z", second_assets, bounds),
    item("S1_first", "2016-08-01T11:50:00Z", first_assets, bounds),
    item("S1_2019", "2019-08-01T11:50:00Z", first_assets, bounds),
    item("S1_ghana", "2016-08-01T11:50:00Z", ghana_assets, ghana_bounds),
  ]
  return found, bounds


def inner_box(bounds: list[float]) -> tuple[float, float, float, float]:
  """The middle half of `bounds` (W, S, E, N)."""
  west, south, east, north = bounds
  dx, dy = (east - west) / 4, (north - south) / 4
  return west + dx, south + dy, east - dx, north - dy


def test_search_finds_the_items_of_the_area_and_dates_in_time_order(items):
  """Items outside the dates or the area are not returned; pages (one item each) are followed."""
  found, bounds = items
  with StacApi(found, page_size=1).serving() as api:
    results = flood_jax.search(api.url, COLLECTION, bbox=inner_box(bounds),
                               datetime="2016-07-01/2016-09-01")  # fmt: skip
    assert [result.id for result in results] == ["S1_first", "S1_second"]
    assert len(api.requests) == 2  # a page for each item, the second through the first's next link
    open_ended = flood_jax.search(
      api.url, COLLECTION, bbox=inner_box(bounds), datetime="2017-01-01/.."
    )
    assert [result.id for result in open_ended] == ["S1_2019"]
    assert flood_jax.search(api.url, "sentinel-2-l2a", bbox=inner_box(bounds)) == []


def test_one_command_maps_the_items_found_over_the_area_and_follows_the_flood(items, tmp_path):
  """predict --stac: the two items of the dates and area are mapped over the area into
  <id>_flood.tif (the others are not mapped), the items found kept in items.json, and the
  flood's course of the two dates written in course/."""
  from test_cli_errors import run

  found, bounds = items
  box = inner_box(bounds)
  output = tmp_path / "maps"
  with StacApi(found).serving() as api:
    result = run("flood_jax.predict", f"--stac={api.url}", f"--collection={COLLECTION}",
                 f"--bbox={','.join(map(str, box))}", "--datetime=2016-07-01/2016-09-01",
                 f"--output={output}")  # fmt: skip
  assert result.returncode == 0, result.stderr[-3000:]
  assert sorted(path.name for path in output.glob("*_flood.tif")) == [
    "S1_first_flood.tif",
    "S1_second_flood.tif",
  ]
  assert [entry["id"] for entry in json.loads((output / "items.json").read_text())["features"]] == [
    "S1_first",
    "S1_second",
  ]
  with rasterio.open(output / "S1_first_flood.tif") as dataset:
    assert 200 < dataset.width < 312 and 200 < dataset.height < 312  # the middle half's window
    assert dataset.tags()["flood_jax_acquired"].startswith("2016-08-01T11:50")
  with (output / "course" / "area.csv").open() as file:
    rows = list(csv.DictReader(file))
  assert [row["acquired"][:10] for row in rows] == ["2016-08-01", "2016-08-13"]
  assert float(rows[0]["flood_km2"]) > float(rows[1]["flood_km2"]) > 0  # receding
  assert "2 acquisitions" in result.stdout


def test_search_errors_are_one_line(items, tmp_path):
  """No STAC API at the URL, an API that fails, a bad datetime, a GRD item, --stac without an
  area: one line (exit 2 from the command line), nothing written."""
  from test_cli_errors import run

  found, bounds = items
  box = inner_box(bounds)
  with pytest.raises(DataError, match=r"http://127.0.0.1:9: ConnectionRefusedError"):
    flood_jax.search("http://127.0.0.1:9", COLLECTION, bbox=box)
  with StacApi(found, fail=True).serving() as api, pytest.raises(DataError, match="index is down"):
    flood_jax.search(api.url, COLLECTION, bbox=box)
  with StacApi(found).serving() as api:
    with pytest.raises(DataError, match="search of sentinel-1-rtc"):
      flood_jax.search(api.url, COLLECTION, bbox=box, datetime="last tuesday")
  grd = [item("S1_grd", "2016-08-01T11:50:00Z", found[0]["assets"], bounds, "sentinel-1-grd")]
  with StacApi(grd).serving() as api:
    (result,) = flood_jax.search(api.url, "sentinel-1-grd", bbox=box)
    with pytest.raises(UsageError, match="S1_grd: a GRD item with no schema-product-vv"):
      flood_jax.map_scenes([result], tmp_path / "grd")
  assert not (tmp_path / "grd").exists()
  for arguments, message in (
    (
      ["--stac=http://127.0.0.1:9", f"--collection={COLLECTION}", "--bbox=1,2,3,4"],
      "ConnectionError",
    ),
    (["--stac=http://127.0.0.1:9", f"--collection={COLLECTION}"], "--stac needs the area"),
  ):
    result = run("flood_jax.predict", *arguments, f"--output={tmp_path / 'out'}")
    assert result.returncode == 2 and message in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_map_scenes_takes_the_items_search_returns(items, tmp_path):
  found, bounds = items
  with StacApi(found).serving() as api:
    results = flood_jax.search(api.url, COLLECTION, bbox=inner_box(bounds),
                               datetime="2016-08-01T11:50:00Z")  # fmt: skip
  summaries = flood_jax.map_scenes(results, tmp_path / "maps", aoi=inner_box(bounds))
  assert [(summary.scene, summary.status) for summary in summaries] == [("S1_first", "done")]
  assert summaries[0].acquired.startswith("2016-08-01T11:50") and summaries[0].area.startswith(
    "bbox"
  )
  assert dt.datetime.fromisoformat(summaries[0].acquired).tzinfo is not None


def test_planetary_computer_s_items_are_signed(items, monkeypatch):
  """Where the API is Planetary Computer's, every item found goes through
  `planetary_computer.sign` (its assets need a token to be read)."""
  import warnings

  from flood_jax.scenes import search

  with warnings.catch_warnings():  # its pydantic models warn of pydantic 3 on import
    warnings.simplefilter("ignore", DeprecationWarning)
    import planetary_computer

  found, bounds = items
  signed = []

  def sign(entry):
    signed.append(entry.id)
    return entry

  monkeypatch.setattr(planetary_computer, "sign", sign)
  monkeypatch.setattr(search, "PLANETARY_COMPUTER", "127.0.0.1")
  with StacApi(found).serving() as api:
    results = flood_jax.search(
      api.url, COLLECTION, bbox=inner_box(bounds), datetime="2016-08-01/2016-08-31"
    )
  assert sorted(signed) == ["S1_first", "S1_second"] == [result.id for result in results]


def test_a_grd_item_maps_from_its_measurement_calibration_and_noise_assets(real_root, tmp_path):
  """A sentinel-1-grd item (as Planetary Computer, Earth Search and the Copernicus Data Space
  list them: `vv`/`vh` measurements, `schema-product-*`, `schema-calibration-*` and
  `schema-noise-*` assets) is found and mapped as the product it points into: the same map as
  the downloaded product's."""
  from test_grd import chip_product

  model = flood_jax.load_model()
  product = chip_product(real_root / INDIA, tmp_path, zipped=False)
  assets = {}
  for pol in ("vv", "vh"):
    for key, pattern in (("{}", "measurement/*-{}-*.tiff"), ("schema-product-{}", "annotation/*-{}-*.xml"),
                         ("schema-calibration-{}", "annotation/calibration/calibration-*-{}-*.xml"),
                         ("schema-noise-{}", "annotation/calibration/noise-*-{}-*.xml")):  # fmt: skip
      (path,) = product.glob(pattern.format(pol))
      assets[key.format(pol)] = {"href": str(path), "roles": ["data"]}
  with rasterio.open(real_root / INDIA) as dataset:
    bounds = list(transform_bounds(dataset.crs, "EPSG:4326", *dataset.bounds))
  grd_item = item("S1A_GRD_item", "2024-03-12T05:22:15Z", assets, bounds, "sentinel-1-grd")
  grd_item["properties"]["sar:polarizations"] = ["VV", "VH"]
  with StacApi([grd_item]).serving() as api:
    results = flood_jax.search(api.url, "sentinel-1-grd", bbox=inner_box(bounds))
  (summary,) = flood_jax.map_scenes(results, tmp_path / "maps", model=model)
  assert summary.status == "done", summary.error
  flood_jax.map_scene(product, tmp_path / "product.tif", model=model)
  with (
    rasterio.open(tmp_path / "maps" / "S1A_GRD_item_flood.tif") as from_item,
    rasterio.open(tmp_path / "product.tif") as from_product,
  ):
    assert from_item.transform == from_product.transform
    np.testing.assert_array_equal(from_item.read(1), from_product.read(1))
  assert summary.acquired.startswith("2024-03-12T05:22:15")
