"""The chip folders flood_jax reads, each declared as a layout: where a folder's images and
labels are, their scale and label values, and what is known of their source and events.

| layout | a folder holds | scale | label | split, event |
|---|---|---|---|---|
| `sen1floods11` | `data/flood_events/HandLabeled/...` (`dataset.sen1floods11`) | dB | -1/0/1 | official, country |
| `dfc2024` | `images/<n>.tif` (bands 1-2 VV, VH), `labels/<n>.png` | int16 power x 10,000 | 0/1 | test, unknown |
| `terramesh` | `S1RTC/<id>.tif` (VV, VH), `LULC/<id>.tif` (land cover) | dB | class 1 water, 0 no data, 2-10 dry (weak) | test, unknown |
| `generic` | `<id>_label.tif` beside `<id>.tif` (VV, VH) or `<id>_vv.tif` and `<id>_vh.tif` | decided as predict decides it | 1 water, 0 dry, -1/255/nodata tag no data | test, unknown |

Each layout lists its chips as `records.ChipRecord`s (headers checked, cheap) and reads one as a
`records.Chip`: VV and VH in dB (NaN where missing), the label and its validity. A label
with other values, or an image and label of different sizes, is a `DataError` naming the file.
The DFC 2024 chips have no CRS: they train and score, but cannot be mapped as scenes.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

from flood_jax.dataset import sen1floods11
from flood_jax.dataset.records import SPLITS, Chip, ChipRecord
from flood_jax.dataset.sen1floods11 import read_chip
from flood_jax.errors import DataError
from flood_jax.scenes.bands import engineered_bands, input_validity
from flood_jax.scenes.geotiff import georeference_mismatch, open_header
from flood_jax.scenes.scale import mark_nodata, to_db

NO_SPLIT = "test"  # the split of every chip of a set without official splits


def chip_of(vv_vh_db: np.ndarray, water: np.ndarray, labelled: np.ndarray, band_domain: str):
  """A `Chip` from VV and VH in dB [H, W, 2] (NaN missing), water and labelled (bool [H, W])."""
  validity = labelled & input_validity(vv_vh_db[..., 0], vv_vh_db[..., 1])
  image = engineered_bands(vv_vh_db[..., 0], vv_vh_db[..., 1], band_domain)
  return Chip(image, (water & validity).astype(np.uint8), validity, vv_vh_db.astype(np.float32))


def read_bands(path: Path, bands: Sequence[int]) -> tuple[np.ndarray, float | None]:
  """float64 [len(bands), H, W] of a raster that may have no CRS, and its nodata tag."""
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", NotGeoreferencedWarning)
      with rasterio.open(path) as dataset:
        if dataset.count < max(bands):
          raise DataError(f"{path}: {dataset.count} band(s); expected band {max(bands)}")
        return dataset.read(list(bands)).astype(np.float64), dataset.nodata
  except RasterioIOError as error:
    raise DataError(f"{path}: cannot read pixels, the file may be truncated ({error})") from None


def check_label_values(raw: np.ndarray, allowed: set[int], path: Path, meaning: str) -> None:
  """DataError naming the label file where it holds values outside `allowed`."""
  unexpected = sorted({int(value) for value in np.unique(raw)} - allowed)
  if unexpected:
    raise DataError(f"{path}: label values {unexpected[:5]} outside {sorted(allowed)} ({meaning})")


def check_sizes(image: Path, label: Path) -> None:
  """DataError naming the label where it is not the image's size (both headers read)."""
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", NotGeoreferencedWarning)
    first, second = open_header(image), open_header(label)
  if (first.height, first.width) != (second.height, second.width):
    raise DataError(
      f"{label}: label of {second.height}x{second.width} px against {first.height}x"
      f"{first.width} px of its image {image.name}"
    )
  if first.crs is not None and second.crs is not None:
    mismatch = georeference_mismatch(first, second)
    if mismatch:
      raise DataError(f"{label}: does not match its image {image.name}: {mismatch}")


def natural_key(path: Path) -> tuple:
  """Sorts 2.tif before 10.tif."""
  return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.stem))


class Sen1Floods11:
  """The dataset's own layout (`dataset.sen1floods11`): dB, official splits, events."""

  name = "sen1floods11"
  looks = "Sen1Floods11: data/flood_events/HandLabeled/{S1Hand,LabelHand} and splits/"

  def matches(self, folder: Path) -> bool:
    return sen1floods11.is_root(folder)

  def records(self, folder: Path, splits: Sequence[str], use_weak: bool) -> list[ChipRecord]:
    return sen1floods11.records(folder, splits, use_weak)

  def read(self, record: ChipRecord, band_domain: str) -> Chip:
    return read_chip(record.s1_path, record.label_path, band_domain, record.source)


class Dfc2024:
  """The 2024 IEEE GRSS Data Fusion Contest flood track: int16 linear power x 10,000 in bands 1
  (VV) and 2 (VH), DN <= 0 no data; PNG labels 1 water, 0 not water; no CRS."""

  name = "dfc2024"
  looks = "DFC 2024: images/<n>.tif (int16 power x 10,000, VV and VH in bands 1-2), labels/<n>.png"
  power_per_dn = 1e-4

  def matches(self, folder: Path) -> bool:
    return (folder / "images").is_dir() and any((folder / "labels").glob("*.png"))

  def records(self, folder: Path, splits: Sequence[str], use_weak: bool) -> list[ChipRecord]:
    if NO_SPLIT not in splits:
      return []
    records = []
    for image in sorted((folder / "images").glob("*.tif"), key=natural_key):
      label = folder / "labels" / f"{image.stem}.png"
      if not label.is_file():
        raise DataError(f"{image}: no label {label.name} in {label.parent}")
      check_sizes(image, label)
      records.append(ChipRecord(f"{self.name}_{image.stem}", "hand", NO_SPLIT, image, label,
                                dataset=self.name, layout=self.name))  # fmt: skip
    return records

  def read(self, record: ChipRecord, band_domain: str) -> Chip:
    numbers, _ = read_bands(record.s1_path, (1, 2))
    vv_vh_db = np.moveaxis(to_db(numbers * self.power_per_dn, "power"), 0, -1)
    raw = read_bands(record.label_path, (1,))[0][0]
    check_label_values(raw, {0, 1}, record.label_path, "1 water, 0 not water")
    return chip_of(vv_vh_db, raw == 1, np.ones(raw.shape, bool), band_domain)


class TerraMesh:
  """TerraMesh's S1RTC chips (VV, VH in dB, UTM) with an annual Sentinel-2 land-cover map as a
  weak label: class 1 water, 0 no data, 2-10 other land covers (dry)."""

  name = "terramesh"
  looks = "TerraMesh: S1RTC/<id>.tif (VV, VH in dB) with LULC/<id>.tif (land cover, 1 water)"
  land_cover_classes = set(range(11))

  def matches(self, folder: Path) -> bool:
    return (folder / "S1RTC").is_dir() and (folder / "LULC").is_dir()

  def records(self, folder: Path, splits: Sequence[str], use_weak: bool) -> list[ChipRecord]:
    if NO_SPLIT not in splits:
      return []
    records = []
    for image in sorted((folder / "S1RTC").glob("*.tif")):
      label = folder / "LULC" / image.name
      if not label.is_file():
        raise DataError(f"{image}: no land-cover label {label}")
      check_sizes(image, label)
      records.append(ChipRecord(image.stem, "weak", NO_SPLIT, image, label, dataset=self.name,
                                layout=self.name))  # fmt: skip
    return records

  def read(self, record: ChipRecord, band_domain: str) -> Chip:
    values, nodata = read_bands(record.s1_path, (1, 2))
    vv_vh_db = np.moveaxis(mark_nodata(values, nodata), 0, -1)
    raw = read_bands(record.label_path, (1,))[0][0]
    check_label_values(raw, self.land_cover_classes, record.label_path, "land cover, 1 water")
    return chip_of(vv_vh_db, raw == 1, raw != 0, band_domain)


class Generic:
  """Any set of chips named by their label: `<id>_label.tif` (1 water, 0 dry; -1, 255 or the
  file's nodata tag no data) beside `<id>.tif` (VV, VH) or `<id>_vv.tif` and `<id>_vh.tif`, in
  any scale predict reads (decided as predict decides it: metadata, then values)."""

  name = "generic"
  looks = "generic: <id>_label.tif beside <id>.tif (VV, VH) or <id>_vv.tif and <id>_vh.tif"
  no_data_labels = {-1, 255}

  def matches(self, folder: Path) -> bool:
    return any(folder.glob("*_label.tif"))

  def records(self, folder: Path, splits: Sequence[str], use_weak: bool) -> list[ChipRecord]:
    if NO_SPLIT not in splits:
      return []
    records = []
    for label in sorted(folder.glob("*_label.tif")):
      chip_id = label.name[: -len("_label.tif")]
      stacked, vv, vh = (folder / f"{chip_id}{end}.tif" for end in ("", "_vv", "_vh"))
      if stacked.is_file():
        image, vh_path = stacked, None
      elif vv.is_file() and vh.is_file():
        image, vh_path = vv, vh
      else:
        raise DataError(f"{label}: no image {stacked.name}, nor {vv.name} and {vh.name}")
      check_sizes(image, label)
      records.append(ChipRecord(chip_id, "hand", NO_SPLIT, image, label, dataset=folder.name,
                                layout=self.name, vh_path=vh_path))  # fmt: skip
    return records

  def read(self, record: ChipRecord, band_domain: str) -> Chip:
    from flood_jax.scenes.sources import resolve_input

    if record.vh_path is None:
      scene = resolve_input(str(record.s1_path))
    else:
      scene = resolve_input(vv=str(record.s1_path), vh=str(record.vh_path))
    bands = []
    for ref in (scene.vv, scene.vh):
      values, nodata = read_bands(Path(ref.path), (ref.band,))
      bands.append(to_db(mark_nodata(values[0], nodata), scene.scale))
    vv_vh_db = np.stack(bands, -1)
    raw, nodata = read_bands(record.label_path, (1,))
    raw = raw[0]
    no_data = self.no_data_labels | ({int(nodata)} if nodata is not None else set())
    check_label_values(raw, {0, 1} | no_data, record.label_path, "1 water, 0 dry, or no data")
    return chip_of(vv_vh_db, raw == 1, (raw == 0) | (raw == 1), band_domain)


LAYOUTS = {layout.name: layout for layout in (Sen1Floods11(), Dfc2024(), TerraMesh(), Generic())}


def layout_of(folder: Path):
  """The layout a folder is in; DataError naming the folder and the layouts where none fits."""
  for layout in LAYOUTS.values():
    if layout.matches(folder):
      return layout
  known = "; ".join(layout.looks for layout in LAYOUTS.values())
  raise DataError(f"{folder}: a folder in no layout flood_jax reads ({known})")


__all__ = ["LAYOUTS", "SPLITS", "layout_of"]
