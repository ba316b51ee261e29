"""A STAC Item beside each flood map, through pystac, so that catalogues can index it.

Geometry and bbox in EPSG:4326, the projection (`proj:*`), raster (`raster:bands`) and
classification (`classification:classes`) extensions on the map asset, and flood_jax's own
properties: the inputs, the scale decision, the model and its version, and the areas in km².
"""

from __future__ import annotations

import datetime as dt
from importlib.metadata import version
from pathlib import Path

from rasterio.warp import transform_bounds

from flood_jax.mapping.classes import COLOURS, NODATA, ClassScheme
from flood_jax.scenes.scene import Grid

COG = "image/tiff; application=geotiff; profile=cloud-optimized"
ASSET_KINDS = {  # suffix: (media type, roles) of an extra asset
  ".tif": (COG, ["data"]),
  ".png": ("image/png", ["overview", "visual"]),
  ".html": ("text/html", ["metadata"]),
  ".htm": ("text/html", ["metadata"]),
}
SENTINEL1_START = "2014-04-03T00:00:00+00:00"  # Sentinel-1A's launch: no scene is older


def _classes(scheme: ClassScheme) -> list:
  from pystac.extensions.classification import Classification

  return [
    Classification.create(
      value=value,
      description=name,
      name=name.replace(" ", "_"),
      color_hint="{:02X}{:02X}{:02X}".format(*COLOURS[value][:3]),
      nodata=value == NODATA,
    )
    for value, name in scheme.names.items()
  ]


def _add_map_asset(item, map_path: Path, grid: Grid, scheme: ClassScheme) -> None:
  import pystac
  from pystac.extensions.classification import ClassificationExtension
  from pystac.extensions.raster import RasterBand, RasterExtension

  asset = pystac.Asset(
    href=map_path.name,
    media_type=COG,
    roles=["data"],
    title=scheme.title(),
  )
  item.add_asset("flood_map", asset)
  RasterExtension.ext(asset, add_if_missing=True).bands = [
    RasterBand.create(nodata=NODATA, data_type="uint8", spatial_resolution=grid.pixel_size())
  ]
  ClassificationExtension.ext(asset, add_if_missing=True).classes = _classes(scheme)


def stac_item(
  map_path: Path,
  grid: Grid,
  summary: dict,
  extra_assets: dict[str, Path],
  scheme: ClassScheme,
  item_id: str | None = None,
) -> dict:
  """The STAC Item `item_id` (default: the map's stem) of the map at `map_path` (a dict ready
  for JSON), its classes `scheme`'s."""
  import pystac
  from pystac.extensions.projection import ProjectionExtension

  west, south, east, north = transform_bounds(grid.crs, "EPSG:4326", *grid.bounds(), densify_pts=21)
  geometry = {
    "type": "Polygon",
    "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]],
  }
  acquired = summary.get("acquired", "unknown")
  known = acquired != "unknown"
  properties = {
    "created": dt.datetime.now(dt.UTC).isoformat(),
    "flood_jax:version": version("flood_jax"),
    **{f"flood_jax:{key}": value for key, value in summary.items()},
  }
  if not known:  # STAC: no datetime, only the range it lies in (Sentinel-1 to now)
    properties.update(start_datetime=SENTINEL1_START, end_datetime=properties["created"])
  item = pystac.Item(
    id=item_id or map_path.stem,
    geometry=geometry,
    bbox=[west, south, east, north],
    datetime=dt.datetime.fromisoformat(acquired) if known else None,
    properties=properties,
  )
  projection = ProjectionExtension.ext(item, add_if_missing=True)
  projection.epsg = grid.crs.to_epsg()
  if projection.epsg is None:
    projection.wkt2 = grid.crs.to_wkt()
  projection.shape = [grid.height, grid.width]
  projection.transform = list(grid.transform)[:6]
  _add_map_asset(item, map_path, grid, scheme)
  for key, path in extra_assets.items():
    media, roles = ASSET_KINDS.get(path.suffix.lower(), (None, ["data"]))
    item.add_asset(key, pystac.Asset(href=path.name, media_type=media, roles=list(roles)))
  return item.to_dict(include_self_link=False)
