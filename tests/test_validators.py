"""The outputs pass the validators their formats come with: STAC Items with stac-valid (against
the STAC core schemas pystac bundles, offline), the polygons' GeoJSON with geojson-validator
(the GeoJSON schema and RFC 7946's geometry rules). Each validator is shown to catch a broken
copy, so a pass means something."""

import copy
import json
from pathlib import Path

import pytest
import shapely

import flood_jax

CHIP = "data/flood_events/HandLabeled/S1Hand/India_900498_S1Hand.tif"


def stac_core_schemas() -> dict[str, str]:
  """The STAC 1.1.0 core and GeoJSON schemas pystac bundles, by the URLs Items name them by."""
  import pystac.validation.jsonschemas as bundled

  root = Path(bundled.__file__).parent
  schemas = {f"https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/{path.name}": str(path)
             for path in (root / "stac-spec" / "v1.1.0").glob("*.json")}  # fmt: skip
  schemas.update({f"https://geojson.org/schema/{path.name}": str(path)
                  for path in (root / "geojson").glob("*.json")})  # fmt: skip
  return schemas


def stac_valid(path: Path) -> tuple[bool, list]:
  from stac_validator.validate import StacValidate

  validator = StacValidate(str(path), core=True, schema_map=stac_core_schemas())
  return validator.run(), validator.message


@pytest.fixture(scope="module")
def outputs(real_root, tmp_path_factory):
  """A chip mapped twice: its acquisition time unknown (the Item gives a range), and given;
  with GeoJSON polygons."""
  folder = tmp_path_factory.mktemp("validated")
  model = flood_jax.load_model()
  flood_jax.map_scene(real_root / CHIP, folder / "unknown.tif", model=model,
                      vectors=folder / "unknown.geojson", probability=True)  # fmt: skip
  flood_jax.map_scene(real_root / CHIP, folder / "known.tif", model=model,
                      acquired="2016-08-12T11:50:00Z", report=folder / "known.html")  # fmt: skip
  return folder


@pytest.mark.parametrize("name", ["unknown", "known"])
def test_stac_items_pass_stac_valid(outputs, tmp_path, name):
  """Both Items are valid STAC 1.1.0 Items; a copy with a datetime that is not one is not."""
  item = outputs / f"{name}.json"
  valid, message = stac_valid(item)
  assert valid, message
  broken = json.loads(item.read_text())
  broken["properties"]["datetime"] = "last tuesday"
  broken["properties"].pop("start_datetime", None)
  (tmp_path / "broken.json").write_text(json.dumps(broken))
  valid, message = stac_valid(tmp_path / "broken.json")
  assert not valid and "datetime" in json.dumps(message)


def test_polygons_pass_geojson_validator(outputs):
  """The polygons' GeoJSON follows the schema and RFC 7946's geometry rules (closed rings of
  three or more nodes, exterior counter-clockwise, holes clockwise, no self-intersection, within
  longitude and latitude; a hole may touch its shell at a corner, as OGC allows), and every
  patch is valid (pixels joined at a corner only are split there, into the parts of one
  MultiPolygon); a copy with a clockwise exterior ring is caught."""
  import geojson_validator

  collection = json.loads((outputs / "unknown.geojson").read_text())
  assert collection["features"]
  assert geojson_validator.validate_structure(collection) == {}
  rules = ("self_intersection", "duplicate_nodes", "outside_lat_lon_boundaries")
  found = geojson_validator.validate_geometries(collection, criteria_problematic=rules)
  assert found["invalid"] == {} and found["problematic"] == {}, found
  assert all(shapely.geometry.shape(feature["geometry"]).is_valid
             for feature in collection["features"])  # fmt: skip
  assert {feature["geometry"]["type"] for feature in collection["features"]} == {"MultiPolygon"}
  broken = copy.deepcopy(collection)
  ring = broken["features"][0]["geometry"]["coordinates"][0][0]
  broken["features"][0]["geometry"]["coordinates"][0][0] = ring[::-1]
  assert "exterior_not_ccw" in geojson_validator.validate_geometries(broken)["invalid"]


SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, where python3-gdal and python3-qgis install


def system_python_has(module: str) -> bool:
  import subprocess

  probe = [SYSTEM_PYTHON, "-c", f"import {module}"]
  return Path(SYSTEM_PYTHON).exists() and subprocess.run(probe, capture_output=True).returncode == 0


def test_gdal_s_own_cog_validation_passes_the_map_and_probability(outputs):
  """GDAL's validate_cloud_optimized_geotiff (Debian's python3-gdal, run by Debian's Python):
  the map and the probability are COGs; a tiled GeoTIFF whose overviews were added after its
  image is not."""
  import subprocess

  import numpy as np
  import rasterio

  if not system_python_has("osgeo_utils.samples.validate_cloud_optimized_geotiff"):
    pytest.skip("Debian's python3-gdal is not installed (CI installs it: .ci/run)")
  plain = outputs.parent / "plain.tif"
  with rasterio.open(plain, "w", driver="GTiff", height=1024, width=1024, count=1, dtype="uint8",
                     tiled=True, crs="EPSG:32633",
                     transform=rasterio.transform.from_origin(0, 0, 10, 10)) as dataset:  # fmt: skip
    dataset.write(np.random.default_rng(0).integers(0, 3, (1, 1024, 1024), dtype=np.uint8))
  with rasterio.open(plain, "r+") as dataset:  # overviews after the image: not a COG's order
    dataset.build_overviews([2, 4], rasterio.enums.Resampling.nearest)
  validator = [SYSTEM_PYTHON, "-m", "osgeo_utils.samples.validate_cloud_optimized_geotiff"]
  for path in (outputs / "unknown.tif", outputs / "unknown_probability.tif"):
    result = subprocess.run([*validator, str(path)], capture_output=True, text=True)
    assert result.returncode == 0 and "is a valid cloud optimized GeoTIFF" in result.stdout, result
  result = subprocess.run([*validator, str(plain)], capture_output=True, text=True)
  assert result.returncode != 0


def test_qgis_draws_the_map_with_its_style(real_root, tmp_path):
  """Debian's QGIS loads a map with its .qml: valid, paletted, only the map's classes with their
  names and colours; the rendered picture has the water colour where the map has water and is
  clear where it has no data (outside a triangular area of interest)."""
  import subprocess

  import matplotlib.image
  import numpy as np
  import rasterio

  from flood_jax.mapping.classes import COLOURS, WATER

  if not system_python_has("qgis.core"):
    pytest.skip("Debian's python3-qgis is not installed (CI installs it: .ci/run)")
  with rasterio.open(real_root / CHIP) as dataset:
    west, north = dataset.transform @ (0, 0)
    east, south = dataset.transform @ (dataset.width, dataset.height)
  triangle = shapely.Polygon([(west, north), (east, north), (west, south)])
  flood_jax.map_scene(real_root / CHIP, tmp_path / "map.tif", aoi=triangle)
  script = Path(__file__).parent / "system_python" / "qgis_render.py"
  result = subprocess.run([SYSTEM_PYTHON, str(script), str(tmp_path / "map.tif"),
                           str(tmp_path / "drawn.png")], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
  assert result.returncode == 0, result.stderr[-2000:]
  seen = json.loads(result.stdout.strip().splitlines()[-1])
  assert seen["valid"] and seen["style_loaded"] and seen["renderer"] == "paletted"
  red, green, blue, _ = COLOURS[WATER]
  assert [(int(value), label) for value, label, _ in seen["classes"]] == [(0, "dry"), (1, "water")]
  assert seen["classes"][1][2].lower() == f"#ff{red:02x}{green:02x}{blue:02x}"
  with rasterio.open(tmp_path / "map.tif") as dataset:
    classes = dataset.read(1)
  drawn = (matplotlib.image.imread(tmp_path / "drawn.png") * 255).round().astype(int)
  assert drawn.shape[:2] == classes.shape
  water = classes == WATER
  assert water.any() and (classes == 255).any()
  assert (np.abs(drawn[water][:, :3] - [red, green, blue]).max(axis=1) <= 2).mean() > 0.99
  assert (drawn[classes == 255][:, 3] == 0).mean() > 0.99
