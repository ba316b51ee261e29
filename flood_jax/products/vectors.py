"""Water polygons of a finished flood map, with their class and area, written by pyogrio (GDAL).

Polygons come from GDAL's polygonize run on the map's band (`rasterio.features.shapes`), which
reads the file block by block, so memory does not hold the whole map. Areas are ground areas in m²:
geodesic on the WGS84 ellipsoid in a geographic CRS, planar over the CRS's area scale in a
projected one (so Web Mercator's are true too).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio.features import shapes

from flood_jax.core.files import clear_partial, commit, partial_path
from flood_jax.errors import UsageError
from flood_jax.mapping.classes import ClassScheme
from flood_jax.scenes.population import Population
from flood_jax.scenes.scene import Grid, areal_scales

CHUNK = 10_000  # polygons per write
PEOPLE_ROWS = 512  # rows of the population layer warped at once for the polygons' people
FORMATS = {".gpkg": "GeoPackage", ".geojson": "GeoJSON", ".fgb": "FlatGeobuf", ".shp": "Shapefile"}


def vectors_suffix(text: str) -> str:
  """The format suffix of --vectors (a path, or with a folder input a suffix such as .gpkg),
  checked before any mapping."""
  suffix = (Path(text).suffix or (text if text.startswith(".") else "")).lower()
  if suffix not in FORMATS:
    choices = ", ".join(f"{key} ({name})" for key, name in FORMATS.items())
    raise UsageError(f"--vectors={text}: not a polygon format flood_jax writes; use {choices}")
  return suffix


def _areas_m2(geometries: list, crs) -> np.ndarray:
  """Ground areas: geodesic in a geographic CRS, else planar over the CRS's area scale at each
  polygon's centroid (as the map's tally counts them)."""
  if not geometries:
    return np.zeros(0)
  if not crs.is_geographic:
    polygons = np.asarray(geometries)
    centroids = shapely.centroid(polygons)
    scales = areal_scales(crs, shapely.get_x(centroids), shapely.get_y(centroids))
    return shapely.area(polygons) * crs.linear_units_factor[1] ** 2 / scales
  from pyproj import Geod

  geod = Geod(ellps="WGS84")
  return np.asarray([abs(geod.geometry_area_perimeter(geometry)[0]) for geometry in geometries])


def valid_patch(polygon):
  """A traced patch as a valid geometry: pixels joined only at a corner (8-connected) make a ring
  that touches itself, which OGC and RFC 7946 validators reject; GEOS's structure repair splits it
  there into the parts of one MultiPolygon (the same pixels, the same area, one feature, so the
  minimum mapping unit still holds for the patch), rings oriented as RFC 7946 asks."""
  if polygon.is_valid:
    return polygon
  repaired = shapely.make_valid(polygon, method="structure", keep_collapsed=False)
  parts = [part for part in shapely.get_parts(repaired) if part.geom_type == "Polygon"]
  return shapely.MultiPolygon(list(shapely.orient_polygons(parts)))


def _polygons(map_path: Path, water_classes: tuple[int, ...]):
  """(geometries, classes, areas) of every water polygon of the map."""
  geometries, classes, areas = [], [], []
  with rasterio.open(map_path) as dataset:
    crs, batch = dataset.crs, []

    def keep(batch: list) -> None:
      shaped = [valid_patch(shapely.geometry.shape(geometry)) for geometry, _ in batch]
      batch_areas = _areas_m2(shaped, crs)
      for geometry, (_, value), area in zip(shaped, batch, batch_areas, strict=True):
        geometries.append(geometry)
        classes.append(int(value))
        areas.append(float(area))

    for geometry, value in shapes(rasterio.band(dataset, 1), connectivity=8):
      if value in water_classes:
        batch.append((geometry, value))
        if len(batch) >= CHUNK:
          keep(batch)
          batch = []
    keep(batch)
  return crs, geometries, classes, areas


def _pixel_boxes(geometries: list, grid: Grid) -> np.ndarray:
  """int [N, 4]: (top, left, bottom, right) pixel bounds of each polygon, inside the grid."""
  from rasterio.windows import from_bounds

  boxes = np.zeros((len(geometries), 4), np.int64)
  for index, geometry in enumerate(geometries):
    window = from_bounds(*geometry.bounds, grid.transform).round_offsets().round_lengths()
    top, left = max(int(window.row_off), 0), max(int(window.col_off), 0)
    bottom = min(int(window.row_off + window.height), grid.height)
    right = min(int(window.col_off + window.width), grid.width)
    boxes[index] = top, left, bottom, right
  return boxes


def _people(map_path: Path, geometries: list, population: str) -> np.ndarray:
  """People in each polygon: the population layer on the map's grid, warped once per band of
  PEOPLE_ROWS rows, summed over the pixels whose centres the polygon holds (exactly the patch's
  pixels: its edges are pixel edges)."""
  from rasterio.features import geometry_mask

  people = np.zeros(len(geometries))
  with rasterio.open(map_path) as dataset:
    grid = Grid.of(dataset)
  boxes = _pixel_boxes(geometries, grid)
  layer = Population(population, grid)
  try:
    for top in range(0, grid.height, PEOPLE_ROWS):
      bottom = min(top + PEOPLE_ROWS, grid.height)
      hits = np.nonzero((boxes[:, 0] < bottom) & (boxes[:, 2] > top))[0]
      if not hits.size:
        continue
      band = layer.people(top, bottom - top)
      for index in hits:
        first, left, last, right = boxes[index]
        first, last = max(first, top), min(last, bottom)
        transform = grid.transform @ Affine.translation(left, first)
        inside = geometry_mask([geometries[index]], (last - first, right - left), transform,
                               invert=True)  # fmt: skip
        people[index] += band[first - top : last - top, left:right][inside].sum()
  finally:
    layer.close()
  return people


def write_vectors(
  map_path: Path,
  output: Path,
  scheme: ClassScheme,
  pending: bool = False,
  population: str | None = None,
) -> int:
  """Writes the water polygons (`scheme`'s water classes, named as it names them) of `map_path`
  to `output` (.gpkg or .geojson), one per patch of the map: the map's minimum mapping unit has
  already removed the small ones (`flood_jax.mapping.sieve`), so the polygons' areas add up to the
  map's. With a `population` raster each polygon carries its people. Returns how many. With
  `pending`, the files stay under their partial names for `core.files.commit`."""
  crs, geometries, classes, areas = _polygons(map_path, scheme.water_classes)
  extra = {"people": _people(map_path, geometries, population)} if population else {}
  if output.suffix.lower() == ".geojson" and geometries:  # RFC 7946: WGS 84 longitude, latitude
    geometries, crs = _to_wgs84(geometries, crs)
  names = scheme.names
  layer = re.sub(r"\W", "_", output.stem) or "water"
  clear_partial(output)
  try:
    _write(partial_path(output), layer, crs, geometries, classes, areas, names, extra)
  except BaseException:
    clear_partial(output)
    raise
  if not pending:
    commit(output)
  return len(geometries)


def _to_wgs84(geometries: list, crs):
  """The polygons in EPSG:4326 (longitude, latitude), areas already measured."""
  from pyproj import Transformer
  from rasterio.crs import CRS

  transformer = Transformer.from_crs(crs.to_wkt(), "EPSG:4326", always_xy=True)
  moved = shapely.transform(
    np.asarray(geometries, object), lambda xy: np.column_stack(transformer.transform(*xy.T))
  )
  return list(moved), CRS.from_epsg(4326)


def _write(path: Path, layer: str, crs, geometries, classes, areas, names, extra: dict) -> None:
  """The polygons with their class, class name, area and the `extra` fields (name: values)."""
  from pyogrio.raw import write

  write(
    path,
    layer=layer,
    geometry=shapely.to_wkb(np.asarray(geometries, object)),
    geometry_type="MultiPolygon",
    promote_to_multi=True,  # one type for every patch: a few are split at a corner
    field_data=[
      np.asarray(classes, np.int32),
      np.asarray([names[c] for c in classes], object),
      np.asarray(areas, np.float64),
      *(np.asarray(values, np.float64) for values in extra.values()),
    ],
    fields=["class", "class_name", "area_m2", *extra],
    crs=crs.to_wkt(),
  )
