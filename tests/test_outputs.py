"""The map products: valid COGs with colour table and overviews, probability, permanent water,
polygons, a STAC Item, and nothing destroyed or half-written."""

import json

import numpy as np
import pyogrio
import pytest
import rasterio
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_validate
from scipy import ndimage

from flood_jax.api import trained_model
from flood_jax.dataset.synthetic import synthesize_scene
from flood_jax.errors import UsageError
from flood_jax.mapping.classes import COLOURS
from flood_jax.products.cog import partial_paths
from flood_jax.products.scene_map import MapOptions, Outputs, write_scene

TRANSFORM = from_origin(500000, 4000000, 10, 10)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
  folder = tmp_path_factory.mktemp("outputs")
  synthetic = synthesize_scene(np.random.default_rng(7), (700, 600), nodata=False)
  vv_vh = np.moveaxis(synthetic.vv_vh_db, -1, 0).copy()
  vv_vh[:, :60, :80] = np.nan
  path = folder / "scene.tif"
  with rasterio.open(path, "w", driver="GTiff", height=700, width=600, count=2, dtype="float32",
                     crs="EPSG:32633", transform=TRANSFORM, nodata=float("nan")) as dataset:  # fmt: skip
    dataset.write(vv_vh)
  # Reference water: 100 % occurrence on the left half, 30 m pixels, another CRS's grid.
  occurrence = np.zeros((240, 200), np.uint8)
  occurrence[:, :100] = 100
  reference = folder / "occurrence.tif"
  with rasterio.open(reference, "w", driver="GTiff", height=240, width=200, count=1, dtype="uint8",
                     crs="EPSG:32633", transform=from_origin(500000, 4000300, 30, 30),
                     nodata=255) as dataset:  # fmt: skip
    dataset.write(occurrence[None])
  return path, reference


class DarkIsWater:
  """An engine of fixed probabilities: 1 where the normalised VV is below -1 (about -17.7 dB
  for the test model), else 0, so the map does not hang on a model's last bits."""

  name, precision = "fixed", "VV below -1 std"

  def __call__(self, images: np.ndarray) -> np.ndarray:
    return (images[..., 0] < -1.0).astype(np.float32)


@pytest.fixture(scope="module")
def products(scene, model_folder, tmp_path_factory):
  path, reference = scene
  model = trained_model(model_folder).with_options(min_area_m2=2000).with_engine(DarkIsWater())
  folder = tmp_path_factory.mktemp("products")
  outputs = Outputs.beside(folder / "flood.tif", probability=True, vectors_suffix=".gpkg")
  options = MapOptions(reference_water=str(reference), show_progress=False)
  summary = write_scene(model, str(path), outputs, options)
  return model, outputs, summary


def test_flood_map_is_a_valid_cog_with_colours_overviews_and_classes(products, scene):
  model, outputs, summary = products
  valid, errors, _ = cog_validate(str(outputs.map))
  assert valid, errors
  with rasterio.open(outputs.map) as dataset:
    assert dataset.dtypes[0] == "uint8" and dataset.nodata == 255
    assert dataset.compression.name.lower() == "deflate" and dataset.block_shapes[0] == (512, 512)
    assert dataset.overviews(1), "internal overviews"
    overview = dataset.read(1, out_shape=(dataset.height // 2, dataset.width // 2))
    assert set(np.unique(overview)) <= {0, 1, 2, 255}, "overviews resampled NEAREST keep classes"
    colours = dataset.colormap(1)
    assert all(colours[value] == colour for value, colour in COLOURS.items())
    names = json.loads(dataset.tags()["flood_jax_classes"])
    assert names == {"0": "dry", "1": "flood water", "2": "permanent water", "255": "no data"}
    assert dataset.tags()["flood_jax_scale"] == "db"
    classes = dataset.read(1)
    assert dataset.crs == "EPSG:32633" and dataset.transform == TRANSFORM
  assert set(np.unique(classes)) <= {0, 1, 2, 255} and (classes[:60, :80] == 255).all()
  # Permanent water where the reference says 100 % (the left half, rows 0-689), flood water
  # elsewhere, but for fragments under the unit in bodies that cross the reference's edge.
  bodies, _ = ndimage.label(np.isin(classes, (1, 2)), structure=np.ones((3, 3)))
  reference = np.zeros(classes.shape, bool)
  reference[:690, :300] = True
  crossing = np.intersect1d(bodies[reference], bodies[~reference])
  assert np.isin(bodies[reference & (classes == 1)], crossing).all(), "flood inside the reference"
  assert np.isin(bodies[~reference & (classes == 2)], crossing).all(), "permanent water outside"
  for inside, value in ((reference, 2), (~reference, 1)):
    assert (classes[inside & (bodies > 0)] == value).mean() > 0.9
  assert summary["permanent_water_km2"] > 0 and summary["flood_km2"] > 0
  pixel_km2 = 10 * 10 / 1e6
  assert summary["flood_km2"] == pytest.approx((classes == 1).sum() * pixel_km2)
  assert summary["permanent_water_km2"] == pytest.approx((classes == 2).sum() * pixel_km2)


def test_probability_is_uint8_percent_beside_the_map(products):
  _, outputs, _ = products
  assert cog_validate(str(outputs.probability))[0]
  with rasterio.open(outputs.probability) as dataset, rasterio.open(outputs.map) as flood:
    probability, classes = dataset.read(1), flood.read(1)
    assert dataset.dtypes[0] == "uint8" and dataset.nodata == 255
  assert probability.max() <= 100 or (probability[classes != 255] <= 100).all()
  assert ((probability == 255) == (classes == 255)).all()


def _patch_sizes(classes: np.ndarray, value: int) -> np.ndarray:
  labels, count = ndimage.label(classes == value, structure=np.ones((3, 3)))
  return ndimage.sum(classes == value, labels, range(1, count + 1))


def test_small_patches_are_sieved_and_polygons_carry_class_and_area(products):
  model, outputs, summary = products
  with rasterio.open(outputs.map) as dataset:
    classes = dataset.read(1)
  for value in (1, 2):  # the unit holds per class
    assert (_patch_sizes(classes, value) >= 20).all(), "patches under 2,000 m² (20 px) remain"
  info = pyogrio.read_info(outputs.vectors)
  assert info["features"] == summary["polygons"] > 0
  _, _, geometry, fields = pyogrio.raw.read(outputs.vectors)
  names = dict(zip(info["fields"], fields, strict=True))
  assert set(names["class"]) <= {1, 2} and (names["area_m2"] >= 2000).all()
  assert set(names["class_name"]) <= {"flood water", "permanent water"}
  total = {value: names["area_m2"][names["class"] == value].sum() / 1e6 for value in (1, 2)}
  assert total[1] == pytest.approx(summary["flood_km2"], rel=1e-6)


def test_stac_item_names_inputs_model_scale_and_areas(products, scene):
  model, outputs, summary = products
  item = json.loads(outputs.stac.read_text())
  assert item["type"] == "Feature" and item["id"].startswith("scene_flood_")
  west, south, east, north = item["bbox"]
  assert -180 <= west < east <= 180 and -90 <= south < north <= 90
  properties = item["properties"]
  assert properties["proj:code"] == "EPSG:32633" and properties["proj:shape"] == [700, 600]
  assert properties["flood_jax:inputs"] == [str(scene[0])]
  assert properties["flood_jax:scale"] == "db" and "values" in properties["flood_jax:scale_reason"]
  assert properties["flood_jax:model"] == model.describe()
  assert properties["flood_jax:flood_km2"] == pytest.approx(summary["flood_km2"])
  asset = item["assets"]["flood_map"]
  assert asset["href"] == "flood.tif" and asset["raster:bands"][0]["nodata"] == 255
  classes = {entry["value"]: entry["name"] for entry in asset["classification:classes"]}
  assert classes == {0: "dry", 1: "flood_water", 2: "permanent_water", 255: "no_data"}
  assert {"probability", "vectors"} <= set(item["assets"])
  import pystac

  pystac.Item.from_dict(item)  # parses; schema validation needs the network


def test_nothing_is_destroyed_or_half_written(scene, model_folder, tmp_path):
  path, _ = scene
  model = trained_model(model_folder)
  quiet = MapOptions(show_progress=False)
  before = path.read_bytes()
  with pytest.raises(UsageError, match="is an input"):
    write_scene(model, str(path), Outputs(path), quiet)
  assert path.read_bytes() == before
  output = tmp_path / "flood.tif"
  for leftover in partial_paths(output):  # what a killed run leaves
    leftover.write_bytes(b"half")
  write_scene(model, str(path), Outputs(output), quiet)
  assert not any(leftover.exists() for leftover in partial_paths(output))
  with pytest.raises(UsageError, match="already exists; pass --overwrite"):
    write_scene(model, str(path), Outputs(output), quiet)
  write_scene(model, str(path), Outputs(output), MapOptions(overwrite=True, show_progress=False))


def test_each_engine_writes_the_same_georeferenced_format(scene, model_folder, trained_workdir,
                                                         tmp_path):  # fmt: skip
  path, _ = scene
  profiles = []
  for name, model in (("onnx", trained_model(model_folder)),
                      ("xla", trained_model(trained_workdir))):  # fmt: skip
    output = tmp_path / f"{name}.tif"
    write_scene(model, str(path), Outputs(output), MapOptions(show_progress=False))
    with rasterio.open(output) as dataset:
      profiles.append({key: dataset.profile[key] for key in
                       ("driver", "dtype", "nodata", "crs", "transform", "width", "height",
                        "blockxsize", "compress")})  # fmt: skip
      assert cog_validate(str(output))[0] and dataset.colormap(1)
  assert profiles[0] == profiles[1]


def test_the_unit_holds_per_class_where_flood_meets_permanent_water(model_folder, tmp_path):
  """Flood rims of a lake and reference pixels inside a flood (tests/test_sieve.py's bodies)
  through write_scene: the map is the rule's, and its polygons add up to its areas."""
  from tests.test_sieve import _bodies, _finished

  water, permanent = _bodies()
  vv = np.where(water == 1, -22.0, -8.0).astype(np.float32)
  transform = from_origin(500000, 4000000, 10, 10)
  profile = dict(driver="GTiff", height=60, width=80, crs="EPSG:32633", transform=transform)
  with rasterio.open(tmp_path / "scene.tif", "w", count=2, dtype="float32", **profile) as dataset:
    dataset.write(np.stack([vv, vv - 7.0]))
  occurrence = np.where(permanent, 100, 0).astype(np.uint8)[None]
  with rasterio.open(tmp_path / "ref.tif", "w", count=1, dtype="uint8", **profile) as dataset:
    dataset.write(occurrence)
  model = trained_model(model_folder).with_options(min_area_m2=2000).with_engine(DarkIsWater())
  outputs = Outputs.beside(tmp_path / "flood.tif", probability=False, vectors_suffix=".gpkg")
  options = MapOptions(reference_water=str(tmp_path / "ref.tif"), show_progress=False)
  summary = write_scene(model, str(tmp_path / "scene.tif"), outputs, options)
  with rasterio.open(outputs.map) as dataset:
    classes = dataset.read(1)
  np.testing.assert_array_equal(classes, _finished(water, permanent, 20))
  _, _, _, fields = pyogrio.raw.read(outputs.vectors)
  classes_of_polygons, areas = fields[0], fields[2]
  assert summary["polygons"] == len(areas) == 3 and (areas >= 2000).all()
  for value, key in ((1, "flood_km2"), (2, "permanent_water_km2")):
    assert areas[classes_of_polygons == value].sum() / 1e6 == pytest.approx(summary[key])


def _layer(path, values, crs, transform, nodata=None):
  with rasterio.open(path, "w", driver="GTiff", height=values.shape[0], width=values.shape[1],
                     count=1, dtype=values.dtype, crs=crs, transform=transform,
                     nodata=nodata) as dataset:  # fmt: skip
    dataset.write(values[None])
  return path


def test_excluded_pixels_are_never_water_whatever_the_layers_crs(scene, model_folder, tmp_path):
  """An exclusion raster in EPSG:4326 at about 30 m and HAND in Web Mercator at 20 m, warped
  onto the UTM scene: where either says so the map abstains (3), named in tags and STAC."""
  from rasterio.warp import Resampling, reproject, transform_bounds

  path, _ = scene
  west, south, east, north = transform_bounds("EPSG:32633", "EPSG:4326", 500000, 3993000,
                                              506000, 4000000)  # fmt: skip
  step = 30 / 111_000
  width, height = int((east - west) / step) + 4, int((north - south) / step) + 4
  exclusion = np.zeros((height, width), np.uint8)
  exclusion[:, : width // 3] = 7  # any nonzero value excludes
  exclusion[: height // 4, : width // 3] = 255  # but no data never does
  exclusion_crs_transform = (
    "EPSG:4326",
    from_origin(west - 2 * step, north + 2 * step, step, step),
  )
  _layer(tmp_path / "exclusion.tif", exclusion, *exclusion_crs_transform, nodata=255)
  mx, my = rasterio.warp.transform("EPSG:32633", "EPSG:3857", [499000, 507000], [3992000, 4001000])
  hand_transform = from_origin(mx[0], my[1], 20, 20)
  hand_shape = (int((my[1] - my[0]) / 20), int((mx[1] - mx[0]) / 20))
  hand = np.zeros(hand_shape, np.float32)
  hand[hand_shape[0] // 2 :] = 40.0  # the southern half is far above any drainage
  _layer(tmp_path / "hand.tif", hand, "EPSG:3857", hand_transform, nodata=-9999)
  model = trained_model(model_folder).with_options(min_area_m2=2000)
  outputs = Outputs.beside(tmp_path / "flood.tif", probability=False, vectors_suffix=".gpkg")
  options = MapOptions(exclusion=str(tmp_path / "exclusion.tif"), hand=str(tmp_path / "hand.tif"),
                       show_progress=False)  # fmt: skip
  summary = write_scene(model, str(path), outputs, options)
  with rasterio.open(outputs.map) as dataset:
    classes, grid = dataset.read(1), (dataset.crs, dataset.transform)
    names = json.loads(dataset.tags()["flood_jax_classes"])
  expected_exclusion, expected_hand = np.zeros((2, 700, 600), np.float32)
  reproject(exclusion.astype(np.float32), expected_exclusion, src_crs="EPSG:4326",
            src_transform=exclusion_crs_transform[1], dst_crs=grid[0], dst_transform=grid[1],
            resampling=Resampling.nearest)  # fmt: skip
  reproject(hand, expected_hand, src_crs="EPSG:3857", src_transform=hand_transform,
            dst_crs=grid[0], dst_transform=grid[1], resampling=Resampling.bilinear)  # fmt: skip
  excluded = ((expected_exclusion != 0) & (expected_exclusion != 255)) | (expected_hand > 15)
  valid = (classes != 255) & ((expected_hand < 10) | (expected_hand > 20))  # off HAND's edge
  assert 0.4 < excluded[valid].mean() < 0.9 and (~excluded & valid).any()
  assert (classes[excluded & valid] == 3).all(), "an excluded pixel is never water nor dry"
  assert not (classes[~excluded & valid] == 3).any()
  assert (classes[~excluded & valid] == 1).any(), "water is still mapped where not excluded"
  assert names == {"0": "dry", "1": "water", "3": "excluded", "255": "no data"}
  assert summary["excluded_km2"] == pytest.approx((classes == 3).sum() * 1e-4)
  item = json.loads(outputs.stac.read_text())
  stac_classes = item["assets"]["flood_map"]["classification:classes"]
  assert {c["value"]: c["description"] for c in stac_classes}[3] == "excluded"
  _, _, _, fields = pyogrio.raw.read(outputs.vectors)
  assert set(fields[0]) == {1} and set(fields[1]) == {"water"}, "no polygon of excluded pixels"


def test_backscatter_caps_keep_water_only_where_it_is_dark(scene, model_folder, tmp_path,
                                                           monkeypatch):  # fmt: skip
  """With --max_water_caps=-15,off no water pixel of the map has VV above -15 dB, the map is
  the uncapped one with that water removed (before the unit), and reading the band again in
  narrow column blocks gives the same map."""
  import flood_jax.core.windows
  from flood_jax.mapping.map_rules import backscatter_caps
  from flood_jax.model_flags import parse_water_caps

  path, _ = scene
  with rasterio.open(path) as dataset:
    vv_vh = np.moveaxis(dataset.read(), 0, -1)
  model = trained_model(model_folder)
  maps = {}
  for name, caps, block in (("uncapped", (None, None), 2048), ("capped", (-15.0, None), 2048),
                            ("narrow", (-15.0, None), 96)):  # fmt: skip
    monkeypatch.setattr(flood_jax.core.windows, "COLUMN_BLOCK", block)
    outputs = Outputs(tmp_path / f"{name}.tif")
    write_scene(model.with_options(water_caps=caps), str(path), outputs,
                  MapOptions(show_progress=False))  # fmt: skip
    with rasterio.open(outputs.map) as dataset:
      maps[name] = dataset.read(1)
  assert (maps["uncapped"] == 1).sum() > (maps["capped"] == 1).sum() > 0
  assert not (vv_vh[..., 0][maps["capped"] == 1] > -15.0).any()
  np.testing.assert_array_equal(maps["capped"], maps["narrow"])
  expected = backscatter_caps(maps["uncapped"], vv_vh, -15.0, None)
  assert ((maps["capped"] == 1) <= (expected == 1)).all(), "caps only remove water"
  assert parse_water_caps("-11,off") == (-11.0, None) and parse_water_caps(None) is None
  with pytest.raises(UsageError, match="--max_water_caps=-11: expected VV,VH"):
    parse_water_caps("-11")
  assert "water only where VV <= -15 dB" in model.with_options(water_caps=(-15, None)).describe()


def _footprint_area_m2(crs, transform, height, width) -> float:
  """Geodesic area of a grid's footprint, its edges densified, on the WGS84 ellipsoid."""
  from pyproj import Geod, Transformer

  edge = np.linspace(0, 1, 101)
  cols = np.concatenate([edge * width, np.full(101, width), (1 - edge) * width, np.zeros(101)])
  rows = np.concatenate([np.zeros(101), edge * height, np.full(101, height), (1 - edge) * height])
  xs, ys = transform @ (cols, rows)
  lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(xs, ys)
  return abs(Geod(ellps="WGS84").polygon_area_perimeter(lon, lat)[0])


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:32646", "EPSG:3857", "EPSG:6933"])
def test_ground_areas_are_true_in_any_crs(crs, tmp_path):
  """The same ground (a 3 km square at 26.7° N, where the real India chip lies) in geographic,
  UTM, Web Mercator and equal-area grids: the map's pixel areas and the polygons' areas are the
  true ground area within 0.5% (Web Mercator's used to be 1/cos²(26.7°) = 1.26x too large)."""
  from rasterio.crs import CRS
  from rasterio.transform import from_bounds
  from rasterio.warp import transform_bounds

  from flood_jax.mapping.classes import ClassScheme
  from flood_jax.products.vectors import write_vectors
  from flood_jax.scenes.scene import Grid

  square = (93.74, 26.72, 93.77, 26.747)  # about 3 km x 3 km
  bounds = transform_bounds("EPSG:4326", crs, *square)
  grid = Grid(CRS.from_user_input(crs), from_bounds(*bounds, 300, 300), 300, 300)
  truth = _footprint_area_m2(grid.crs, grid.transform, 300, 300)
  assert grid.row_areas_m2(0, 300).sum() * 300 == pytest.approx(truth, rel=0.005)
  classes = np.zeros((300, 300), np.uint8)
  classes[100:200, 50:250] = 1  # a patch of water, a third of the rows
  path = tmp_path / "map.tif"
  with rasterio.open(path, "w", driver="GTiff", height=300, width=300, count=1, dtype="uint8",
                     crs=grid.crs, transform=grid.transform) as out:  # fmt: skip
    out.write(classes, 1)
  write_vectors(path, tmp_path / "water.gpkg", ClassScheme())
  from pyogrio.raw import read

  area = read(tmp_path / "water.gpkg", columns=["area_m2"])[3][0].sum()
  patch = grid.transform @ rasterio.Affine.translation(50, 100)
  assert area == pytest.approx(_footprint_area_m2(grid.crs, patch, 100, 200), rel=0.005)


def test_what_a_gis_reads_descriptions_units_wgs84_geojson_and_stac_ids(real_root, tmp_path):
  """QGIS showed palette indices (class names lived in a custom tag), rasters had no band
  description or unit, GeoJSON was in UTM, and every STAC Item had the id 'flood'. GDAL now reads
  the class names and attribute table from the map's .aux.xml (a copy as VRT carries them). A
  GeoTIFF palette has 256 entries and no alpha, so the unused ones are opaque black there: the
  map's .qml (the style QGIS loads with it) lists only the classes, in their colours."""
  import json

  import flood_jax

  chips = real_root / "data/flood_events/HandLabeled/S1Hand"
  model = flood_jax.load_model()
  (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
  flood_jax.map_scene(chips / "India_900498_S1Hand.tif", tmp_path / "a" / "flood.tif",
                      model=model, probability=True, vectors=tmp_path / "a" / "flood.geojson")  # fmt: skip
  flood_jax.map_scene(chips / "Mekong_333434_S1Hand.tif", tmp_path / "b" / "flood.tif", model=model)
  import re

  import rasterio.shutil

  rasterio.shutil.copy(tmp_path / "a" / "flood.tif", tmp_path / "flood.vrt", driver="VRT")
  vrt = (tmp_path / "flood.vrt").read_text()
  assert re.findall(r"<Category>([^<]+)</Category>", vrt) == ["dry", "water", "no data"]
  assert "GDALRasterAttributeTable" in vrt
  with rasterio.open(tmp_path / "a" / "flood.tif") as dataset:
    assert dataset.descriptions[0].startswith("flood map: 0 dry, 1 water")
  from xml.etree import ElementTree

  style = (tmp_path / "a" / "flood.qml").read_text()
  assert style.startswith("<!DOCTYPE qgis")
  renderer = ElementTree.fromstring(style.split("\n", 1)[1]).find("pipe/rasterrenderer")
  assert renderer.get("type") == "paletted"
  entries = [(entry.get("value"), entry.get("label"), entry.get("color"))
             for entry in renderer.find("colorPalette")]  # fmt: skip
  assert entries == [("0", "dry", "#ebe6d7"), ("1", "water", "#1e5adc")]  # no 3-254, no data clear
  with rasterio.open(tmp_path / "a" / "flood_probability.tif") as dataset:
    assert dataset.descriptions[0] == "water probability (percent)" and dataset.units[0] == "%"
  geojson = json.loads((tmp_path / "a" / "flood.geojson").read_text())
  lon, lat = np.asarray(geojson["features"][0]["geometry"]["coordinates"][0]).T
  assert 93.7 < lon.min() < lon.max() < 93.8 and 26.7 < lat.min() < lat.max() < 26.8
  assert {feature["properties"]["class_name"] for feature in geojson["features"]} == {"water"}
  ids = [json.loads((tmp_path / name / "flood.json").read_text())["id"] for name in "ab"]
  assert ids[0].startswith("India_900498_S1Hand_flood_") and len(set(ids)) == 2


def test_a_scene_s_products_are_all_or_nothing(real_root, tmp_path):
  """A kill -9 while the polygons were written left a finished-looking map and probability, no
  STAC Item and partial vectors the rerun refused; now nothing is in place until everything is
  written, and the rerun clears the partial files and completes."""
  import subprocess
  import sys

  chip = real_root / "data/flood_events/HandLabeled/S1Hand/India_900498_S1Hand.tif"
  map_path, shapefile = tmp_path / "flood.tif", tmp_path / "water.shp"
  script = (
    "import os, sys, flood_jax, flood_jax.products.vectors as v\n"
    "v._write = lambda *a, **k: os._exit(9)\n"
    "flood_jax.map_scene(sys.argv[1], sys.argv[2], probability=True, vectors=sys.argv[3])\n"
  )
  killed = subprocess.run([sys.executable, "-c", script, str(chip), str(map_path), str(shapefile)])
  assert killed.returncode == 9
  assert not [path for path in tmp_path.iterdir() if not path.name.startswith(".")]
  assert any(".partial" in path.name for path in tmp_path.iterdir())  # what the kill left
  import flood_jax

  flood_jax.map_scene(chip, map_path, probability=True, vectors=shapefile)
  names = sorted(path.name for path in tmp_path.iterdir())
  assert names == ["flood.json", "flood.qml", "flood.tif", "flood.tif.aux.xml", "flood_probability.tif",
                   "water.cpg", "water.dbf", "water.prj", "water.shp", "water.shx"]  # fmt: skip
  from pyogrio.raw import read

  assert len(read(shapefile, columns=["class_name"])[3][0]) > 0  # a readable Shapefile


def test_vector_formats_are_checked_before_any_mapping(real_root, tmp_path):
  import flood_jax
  from flood_jax.errors import UsageError

  chip = real_root / "data/flood_events/HandLabeled/S1Hand/India_900498_S1Hand.tif"
  for bad in ("water.txt", "water"):
    with pytest.raises(UsageError, match="not a polygon format"):
      flood_jax.map_scene(chip, tmp_path / "flood.tif", vectors=tmp_path / bad)
  assert not list(tmp_path.iterdir())
  (tmp_path / "scenes").mkdir()
  (tmp_path / "scenes" / "india.tif").write_bytes(chip.read_bytes())
  flood_jax.map_scenes(str(tmp_path / "scenes"), tmp_path / "maps", vectors_suffix=".gpkg")
  assert (tmp_path / "maps" / "india_flood.gpkg").exists()  # --vectors=.gpkg with a folder


def test_a_reference_layer_that_misses_the_scene_is_said(real_root, tmp_path, caplog):
  """A reference water layer that did not overlap gave 'permanent water 0.000 km²' in silence."""
  import logging

  from rasterio.transform import from_origin

  import flood_jax

  chip = real_root / "data/flood_events/HandLabeled/S1Hand/India_900498_S1Hand.tif"
  elsewhere = tmp_path / "occurrence.tif"  # 100 % water, a degree east of the chip
  with rasterio.open(elsewhere, "w", driver="GTiff", height=100, width=100, count=1, dtype="uint8",
                     crs="EPSG:4326", transform=from_origin(95.0, 27.0, 0.001, 0.001)) as out:  # fmt: skip
    out.write(np.full((1, 100, 100), 100, np.uint8))
  with caplog.at_level(logging.WARNING):
    summary = flood_jax.map_scene(chip, tmp_path / "flood.tif", reference_water=str(elsewhere))
  assert summary["permanent_water_km2"] == 0
  assert any("covers 0.0% of India_900498_S1Hand; no water there is permanent"
             in record.getMessage() for record in caplog.records)  # fmt: skip


def test_a_quicklook_shows_the_map_over_the_radar_image(real_root, tmp_path):
  """--quicklook: a 1,200 px PNG of the water over VV in grey, written with the scene's other
  files (all or nothing), and a .png only."""
  import matplotlib.image

  import flood_jax
  from flood_jax.errors import UsageError

  chip = real_root / "data/flood_events/HandLabeled/S1Hand/India_900498_S1Hand.tif"
  summary = flood_jax.map_scene(chip, tmp_path / "flood.tif", quicklook=tmp_path / "flood.png")
  picture = matplotlib.image.imread(tmp_path / "flood.png")
  assert picture.shape[1] == 1200
  red, green, blue = (picture[..., index] for index in range(3))
  water_blue = (blue > red + 0.3).mean()  # the water colour (30, 90, 220) over the image
  grey = ((np.abs(red - green) < 0.02) & (np.abs(green - blue) < 0.02) & (red < 0.95)).mean()
  assert water_blue > 0.25 and grey > 0.2, (water_blue, grey)  # India: 49% water
  assert summary["water_fraction"] > 0.4
  item = json.loads((tmp_path / "flood.json").read_text())
  assert item["assets"]["overview"]["href"] == "flood.png"
  with pytest.raises(UsageError, match="the picture is a .png"):
    flood_jax.map_scene(chip, tmp_path / "other.tif", quicklook=tmp_path / "other.jpg")


@pytest.mark.parametrize("crs, latitude", [("EPSG:3857", 27.0), ("EPSG:3857", 60.0),
                                           ("EPSG:4326", 27.0), ("EPSG:4326", 60.0),
                                           ("EPSG:32633", 45.0)])  # fmt: skip
def test_the_scale_bar_is_true_ground_length_in_any_crs(crs, latitude):
  """In Web Mercator the "1 km" bar covered 0.89 km at 27° N and 0.50 km at 60° N; in EPSG:4326
  it was 5% short at 27° N and 29% at 60° N."""
  from pyproj import Geod, Transformer
  from rasterio.crs import CRS
  from rasterio.transform import from_origin

  from flood_jax.scenes.scene import Grid

  to_crs = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
  x, y = to_crs.transform(15.0, latitude)
  step = 0.0001 if crs == "EPSG:4326" else 10.0
  grid = Grid(CRS.from_user_input(crs), from_origin(x, y, step, step), 2000, 2000)
  centre = grid.transform @ (1000, 1000)
  lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(
    [centre[0], centre[0] + 1000 * step], [centre[1], centre[1]]
  )
  truth = Geod(ellps="WGS84").inv(lon[0], lat[0], lon[1], lat[1])[2] / 1000
  assert grid.centre_ground_metres_per_column() == pytest.approx(truth, rel=0.002)


def test_pictures_are_bounded_and_every_class_has_its_own_colour():
  """A 200 x 8,000 strip gave a 1,200 x 48,120 px quicklook; excluded and dry shared a grey
  swatch; dry land was left clear (white where the image is stretched to white)."""
  from rasterio.crs import CRS

  from flood_jax.mapping.classes import DRY, EXCLUDED, PERMANENT_WATER, WATER
  from flood_jax.products.quicklook import _legend_patch, _overlay, picture_shape
  from flood_jax.scenes.scene import Grid

  strip = Grid(CRS.from_epsg(32633), TRANSFORM, 8000, 200)
  assert picture_shape(strip) == (1200, 30)
  assert picture_shape(Grid(CRS.from_epsg(32633), TRANSFORM, 300, 400)) == (300, 400)
  from matplotlib.patches import Patch

  from flood_jax.mapping.classes import ClassScheme

  scheme = ClassScheme(permanent_water=True, excluded=True)
  swatches = {value: tuple(_legend_patch(Patch, value, scheme).get_facecolor())
              for value in (DRY, WATER, PERMANENT_WATER, EXCLUDED)}  # fmt: skip
  assert len(set(swatches.values())) == 4
  overlay = _overlay(np.array([[DRY, 255]], np.uint8))
  assert overlay[0, 0, 3] > 0 and overlay[0, 1, 3] == 0  # dry tinted, no data clear
