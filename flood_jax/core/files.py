"""Files written whole or not at all: each is written under a partial name beside its place
and renamed there when complete, so a crash or a kill never leaves a half-written file under
the real name (and a rerun clears the partial one)."""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np


def probe_writable(folder: str | Path) -> None:
  """OSError where nothing can be written in `folder`: a real write, since permission bits say
  nothing of read-only file systems or of root."""
  with tempfile.NamedTemporaryFile(dir=folder, prefix=".flood_jax_probe"):
    pass


def partial_path(path: str | Path) -> Path:
  """Where `path` is written before it is renamed into place: `.<stem>.partial<suffix>` beside
  it (hidden, and with the suffix GDAL and OGR choose a driver by)."""
  path = Path(path)
  return path.with_name(f".{path.stem}.partial{path.suffix}")


SIDECARS = {".shp": (".shp", ".shx", ".dbf", ".prj", ".cpg")}  # files a multi-file format writes


def companions(path: str | Path) -> list[Path]:
  """`path` and the files written beside it: a Shapefile's .shx, .dbf, .prj, .cpg, a GeoTIFF's
  .aux.xml (GDAL's class names and attribute table) and .qml (QGIS's style of the classes)."""
  path = Path(path)
  if path.suffix.lower() in (".tif", ".tiff"):
    return [path, path.with_name(f"{path.name}.aux.xml"), path.with_suffix(".qml")]
  return [path.with_suffix(suffix) for suffix in SIDECARS.get(path.suffix.lower(), (path.suffix,))]


def commit(path: str | Path) -> None:
  """Renames the partial files of `path` (and of its companions) into place."""
  for target in companions(path):
    if partial_path(target).exists():
      partial_path(target).replace(target)


def clear_partial(path: str | Path) -> None:
  """Removes the partial files of `path` and its companions (a killed run's, never finished)."""
  for target in companions(path):
    partial_path(target).unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
  """Yields the partial path to write; renames it to `path` when the block succeeds and
  removes it when the block raises."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  partial = partial_path(path)
  partial.unlink(missing_ok=True)
  try:
    yield partial
  except BaseException:
    partial.unlink(missing_ok=True)
    raise
  partial.replace(path)


@contextlib.contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
  """Yields an empty partial folder to fill; when the block succeeds it replaces `path` (and
  whatever was there), when it raises it is removed. A hard kill leaves only the partial
  folder, which the next run clears."""
  path = Path(path)
  partial = partial_path(path)
  shutil.rmtree(partial, ignore_errors=True)
  partial.mkdir(parents=True)
  try:
    yield partial
  except BaseException:
    shutil.rmtree(partial, ignore_errors=True)
    raise
  if path.exists():
    shutil.rmtree(path)
  partial.rename(path)


def _json_safe(value):
  if isinstance(value, dict):
    return {key: _json_safe(item) for key, item in value.items()}
  if isinstance(value, (list, tuple)):
    return [_json_safe(item) for item in value]
  if isinstance(value, (float, np.floating)):
    return float(value) if math.isfinite(value) else None
  if isinstance(value, np.integer):
    return int(value)
  return value


def json_text(payload) -> str:
  """JSON of `payload`, NaN and infinity as null (they are not JSON)."""
  return json.dumps(_json_safe(payload), indent=2)


def write_json(path: str | Path, payload) -> None:
  """Writes JSON atomically; NaN and infinity become null (they are not JSON)."""
  with atomic_path(path) as partial:
    partial.write_text(json_text(payload))
