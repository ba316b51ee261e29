"""When a scene was acquired, from the product itself or the user, never the time of mapping.

In order: `--acquired=ISO8601`; the time in a Sentinel-1 product or asset name
(`..._YYYYMMDDThhmmss_...`: HyP3, GRD and Planetary Computer names); the files' tags (GDAL's
`TIFFTAG_DATETIME`, `ACQUISITION_START_TIME`, Earth Engine's `system:time_start` in ms, ...);
a STAC listing's item datetime (`products.batch`). Otherwise it is unknown, and said so.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from flood_jax.errors import UsageError

NAME_TIME = re.compile(r"(?:^|[_\-.])(\d{8}T\d{6})(?:[_\-.]|$)")
TIME_TAGS = ("ACQUISITION_START_TIME", "ACQUISITION_TIME", "DATETIME", "TIFFTAG_DATETIME")
EPOCH_MS_TAGS = ("system:time_start",)


def parse_time(text: str, what: str = "--acquired") -> dt.datetime:
  """A time in ISO 8601 (UTC when no zone is given); UsageError naming `what` otherwise."""
  try:
    parsed = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
  except ValueError:
    raise UsageError(f"{what}={text}: not an ISO 8601 time (e.g. 2026-11-30T05:42:10Z)") from None
  return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def from_name(name: str) -> dt.datetime | None:
  """The time in a Sentinel-1 product name (…_YYYYMMDDThhmmss_…), if any."""
  match = NAME_TIME.search(Path(name).name)
  if not match:
    return None
  return dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC)


def from_tags(tags: dict) -> dt.datetime | None:
  """The acquisition time in a raster's tags, if one of the known keys holds one."""
  tags = dict(tags)
  for key, value in list(tags.items()):  # GDAL splits 'system:time_start=...' at the colon
    name, equals, rest = str(value).partition("=")
    if equals and ":" not in key:
      tags.setdefault(f"{key}:{name}", rest)
  for key in EPOCH_MS_TAGS:
    if str(tags.get(key, "")).strip().isdigit():
      return dt.datetime.fromtimestamp(int(tags[key]) / 1000, dt.UTC)
  for key in TIME_TAGS:
    value = str(tags.get(key, "")).strip()
    if re.fullmatch(r"\d{4}:\d{2}:\d{2} \d{2}:\d{2}:\d{2}", value):  # TIFF's own format
      return dt.datetime.strptime(value, "%Y:%m:%d %H:%M:%S").replace(tzinfo=dt.UTC)
    if value:
      try:
        return parse_time(value, key)
      except UsageError:
        continue
  return None


def acquisition(name: str, files: tuple[str, ...], datasets: list) -> tuple[str | None, str]:
  """(ISO 8601 time or None, where it came from) of a scene from its name, files and tags."""
  for text, where in [(name, "product name"), *((path, "file name") for path in files)]:
    found = from_name(text)
    if found:
      return found.isoformat(), f"{where} {Path(text).name}"
  for dataset in datasets:
    for tags in (dataset.tags(), dataset.tags(1)):
      found = from_tags(tags)
      if found:
        return found.isoformat(), f"tags of {Path(dataset.name).name}"
  return None, "not in the product's names or tags (give --acquired)"
