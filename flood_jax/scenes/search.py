"""The scenes of an area and dates, found in a STAC API with pystac-client.

    items = flood_jax.search("https://planetarycomputer.microsoft.com/api/stac/v1",
                             "sentinel-1-rtc", bbox=(30.9, 30.5, 31.4, 31.0),
                             datetime="2026-11-24/2026-12-01")
    flood_jax.map_scenes(items, "maps/", aoi=(30.9, 30.5, 31.4, 31.0))

Items of any STAC API (Planetary Computer, Earth Search, the Copernicus Data Space, a local one)
whose polygons meet the area (`scenes.area`) and whose time lies in the dates, in time order.
Planetary Computer's hrefs are signed (the `planetary-computer` package) where the API is
theirs. An item of calibrated backscatter (Planetary Computer's sentinel-1-rtc) is mapped from
its `vv` and `vh` assets (`item_bands`); a GRD item (sentinel-1-grd of Planetary Computer, Earth
Search or the Copernicus Data Space) from its measurement, annotation, calibration and noise
assets (`scenes.grd.ItemProduct`): calibrated, denoised and geocoded as a downloaded product is.
"""

from __future__ import annotations

import warnings
from urllib.parse import urlparse

import shapely

from flood_jax.errors import DataError, UsageError
from flood_jax.scenes.area import WGS84, Area, load_area

PLANETARY_COMPUTER = "planetarycomputer.microsoft.com"
INSTALL = "pip install -e '.[search]'"


def _client(api_url: str):
  """The STAC API at `api_url`, opened (its landing page read); DataError in one line where it
  cannot be reached or is not a STAC API."""
  try:
    import pystac_client
  except ImportError:
    raise UsageError(f"--stac needs pystac-client: {INSTALL}") from None
  if urlparse(api_url).scheme not in ("http", "https"):
    raise UsageError(f"--stac={api_url}: expected the http(s) URL of a STAC API")
  try:
    return pystac_client.Client.open(api_url, timeout=60)
  except Exception as error:  # requests' connection errors, the API's errors, a non-STAC page
    raise DataError(f"{api_url}: {_one_line(error)}") from None


def _one_line(error: Exception) -> str:
  """The root of an error's chain in one line (a refused connection, not urllib3's retries)."""
  while (error.__cause__ or error.__context__) is not None:
    error = error.__cause__ or error.__context__
  return " ".join(f"{type(error).__name__}: {error}".split())[:400]


def _geometry(area: Area) -> dict:
  """The area's polygons as one GeoJSON geometry in degrees (what `intersects` takes)."""
  polygons = [shapely.geometry.shape(polygon) for polygon in area.on(WGS84)]
  return shapely.geometry.mapping(shapely.union_all(polygons))


def search(
  api_url: str,
  collection: str,
  aoi=None,
  *,
  bbox: tuple[float, float, float, float] | None = None,
  datetime: str | None = None,
  max_items: int = 500,
) -> list:
  """pystac Items of `collection` at the STAC API `api_url` that meet the area (`aoi`: a vector
  file, a polygon in degrees, or `bbox` (W, S, E, N) in degrees) within `datetime`
  ("START/END", ISO 8601, ".." for an open end), in time order; signed where the API is
  Planetary Computer's. DataError in one line where the API cannot be searched."""
  if (aoi is None) == (bbox is None):
    raise UsageError("a search needs an area: --aoi (a vector file) or --bbox (W,S,E,N), one")
  if not collection:
    raise UsageError("--collection is required with --stac (e.g. sentinel-1-rtc)")
  area = load_area(aoi if aoi is not None else tuple(bbox))
  client = _client(api_url)
  try:
    found = client.search(
      collections=[collection], intersects=_geometry(area), datetime=datetime, max_items=max_items
    )
    items = list(found.items())
  except Exception as error:  # a bad datetime (pystac-client's), the API's or the network's
    raise DataError(f"{api_url}: search of {collection}: {_one_line(error)}") from None
  if urlparse(api_url).hostname == PLANETARY_COMPUTER:
    items = _signed(items)
  return sorted(items, key=lambda item: (item.datetime is None, item.datetime, item.id))


def _signed(items: list) -> list:
  """Planetary Computer's items with their hrefs signed (read-only tokens)."""
  try:
    with warnings.catch_warnings():  # its pydantic models warn of pydantic 3 on import
      warnings.simplefilter("ignore", DeprecationWarning)
      import planetary_computer
  except ImportError:
    raise UsageError(f"Planetary Computer's assets must be signed: {INSTALL}") from None
  try:
    return [planetary_computer.sign(item) for item in items]
  except Exception as error:
    raise DataError(f"Planetary Computer's signing: {_one_line(error)}") from None


def is_grd(item) -> bool:
  """A Sentinel-1 GRD item (its assets are the product's digital numbers)."""
  kind = str(item.properties.get("sar:product_type", "")).upper()
  return kind == "GRD" or "grd" in (item.collection_id or "").lower()


def item_bands(item) -> tuple[str, str]:
  """The hrefs of a calibrated item's `vv` and `vh` assets (a GRD item's are digital numbers:
  `batch.item_scene` maps it with its calibration and noise assets); UsageError naming the item
  where it has none."""
  if "vv" not in item.assets or "vh" not in item.assets:
    raise UsageError(f"item {item.id}: has no 'vv' and 'vh' assets (it has {sorted(item.assets)})")
  return item.assets["vv"].get_absolute_href() or item.assets["vv"].href, (
    item.assets["vh"].get_absolute_href() or item.assets["vh"].href
  )
