"""The chips of a Sen1Floods11 root in its official layout (one of the catalog's layouts), and
`read_chip`: one chip's bands, label and validity, its files checked against what the layout
promises (every problem a `DataError` naming the file).

    ROOT/data/flood_events/HandLabeled/S1Hand/<id>_S1Hand.tif
    ROOT/data/flood_events/HandLabeled/LabelHand/<id>_LabelHand.tif
    ROOT/data/flood_events/HandLabeled/JRCWaterHand/<id>_JRCWaterHand.tif   (optional)
    ROOT/data/flood_events/WeaklyLabeled/S1Weak/<id>_S1Weak.tif
    ROOT/data/flood_events/WeaklyLabeled/S1OtsuLabelWeak/<id>_S1OtsuLabelWeak.tif
    ROOT/splits/flood_handlabeled/flood_{train,valid,test,bolivia}_data.csv

Hand-labelled chips keep their official split; where a chip has a JRCWaterHand layer (JRC's
permanent water, 1), flood and permanent water are scored apart (`evaluation.evaluators`). Weak
chips are training data only. Split CSVs have no header and CRLF line endings; a header line, if
one is present, is recognised and skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import RasterioIOError

from flood_jax.dataset.records import SPLITS, Chip, ChipRecord
from flood_jax.errors import DataError
from flood_jax.scenes.bands import engineered_bands, input_validity
from flood_jax.scenes.geotiff import RasterHeader, georeference_mismatch, open_header

HAND_DIR = Path("data/flood_events/HandLabeled")
WEAK_DIR = Path("data/flood_events/WeaklyLabeled")
SPLIT_DIR = Path("splits/flood_handlabeled")


def split_csv_path(root: Path, split: str) -> Path:
  return root / SPLIT_DIR / f"flood_{split}_data.csv"


def parse_split_csv(path: Path) -> list[str]:
  """Chip ids listed in an official split CSV (no header, CRLF, `<id>_S1Hand.tif,...`)."""
  chip_ids = []
  for line_number, line in enumerate(path.read_text().splitlines(), start=1):
    line = line.strip()
    if not line:
      continue
    first = line.split(",")[0].strip()
    if not first.endswith("_S1Hand.tif"):
      if line_number == 1 and not first.endswith(".tif"):
        continue  # a header row, which the official files do not have
      raise DataError(
        f"{path}:{line_number}: expected '<id>_S1Hand.tif,<id>_LabelHand.tif', got {line!r}"
      )
    chip_ids.append(first[: -len("_S1Hand.tif")])
  return chip_ids


def is_root(root: Path) -> bool:
  """Whether `root` is a Sen1Floods11 root (holds data/flood_events/HandLabeled or WeaklyLabeled)."""
  return (root / HAND_DIR).is_dir() or (root / WEAK_DIR).is_dir()


def event_of(chip_id: str) -> str:
  """The flood event of a chip id: its country, `Ghana` of `Ghana_103272`."""
  return chip_id.rsplit("_", 1)[0]


def hand_records(root: Path, splits: Iterable[str] = SPLITS) -> list[ChipRecord]:
  """Hand-labelled chips of the given splits; a split whose CSV is absent contributes nothing."""
  records, seen = [], {}
  for split in splits:
    if split not in SPLITS:
      raise DataError(f"unknown split {split!r}; expected some of {SPLITS}")
    csv = split_csv_path(root, split)
    if not csv.exists():
      continue
    for chip_id in parse_split_csv(csv):
      if chip_id in seen:
        raise DataError(f"{csv}: chip {chip_id} is also in the {seen[chip_id]} split")
      seen[chip_id] = split
      jrc = root / HAND_DIR / "JRCWaterHand" / f"{chip_id}_JRCWaterHand.tif"
      records.append(
        ChipRecord(
          chip_id,
          "hand",
          split,
          root / HAND_DIR / "S1Hand" / f"{chip_id}_S1Hand.tif",
          root / HAND_DIR / "LabelHand" / f"{chip_id}_LabelHand.tif",
          jrc if jrc.is_file() else None,
          event=event_of(chip_id),
        )
      )
  return records


def weak_records(root: Path) -> list[ChipRecord]:
  """Every weakly labelled chip that has an S1Weak image (all are training data)."""
  image_dir = root / WEAK_DIR / "S1Weak"
  if not image_dir.is_dir():
    return []
  records = []
  for s1_path in sorted(image_dir.glob("*_S1Weak.tif")):
    chip_id = s1_path.name[: -len("_S1Weak.tif")]
    label_path = root / WEAK_DIR / "S1OtsuLabelWeak" / f"{chip_id}_S1OtsuLabelWeak.tif"
    records.append(
      ChipRecord(chip_id, "weak", "train", s1_path, label_path, event=event_of(chip_id))
    )
  return records


def records(root: Path, splits: Sequence[str] = SPLITS, use_weak: bool = True) -> list[ChipRecord]:
  """The chips of a Sen1Floods11 root, each image-label pair checked as usable.

  Checks (headers only, cheap): both files exist, the image has 2 float bands, the label 1
  integer band, and both share size, CRS and transform within a small fraction of a pixel.
  Raises `DataError` naming the file at the first problem.
  """
  records = hand_records(root, splits)
  if use_weak and "train" in splits:
    records += weak_records(root)
  for record in records:
    try:
      image = open_header(record.s1_path)
      check_pair(image, open_header(record.label_path))
      if record.jrc_path is not None:
        check_pair(image, open_header(record.jrc_path))
    except DataError as error:
      if record.source == "hand":
        raise DataError(f"{error} (chip {record.chip_id} of {record.split} split)") from None
      raise
  return records


LABEL_KINDS = ("hand", "weak")
HAND_LABEL_VALUES = (-1, 0, 1)
WEAK_INVALID_VALUES = (-1, 255)


def check_s1_header(header: RasterHeader) -> None:
  """Sentinel-1 images must have 2 float bands: VV then VH in dB."""
  if header.count != 2:
    raise DataError(
      f"{header.path}: expected 2 bands (VV, VH in dB), found {header.count}; "
      "is this a Sentinel-1 S1Hand/S1Weak file?"
    )
  if not all(np.issubdtype(np.dtype(dtype), np.floating) for dtype in header.dtypes):
    raise DataError(f"{header.path}: expected float bands (dB), found {header.dtypes}")


def check_label_header(header: RasterHeader) -> None:
  if header.count != 1:
    raise DataError(f"{header.path}: expected 1 label band, found {header.count}")
  if not np.issubdtype(np.dtype(header.dtypes[0]), np.integer):
    raise DataError(f"{header.path}: expected an integer label band, found {header.dtypes[0]}")


def check_pair(s1: RasterHeader, label: RasterHeader) -> None:
  check_s1_header(s1)
  check_label_header(label)
  mismatch = georeference_mismatch(s1, label)
  if mismatch:
    raise DataError(f"{label.path}: does not match its image {s1.path.name}: {mismatch}")


def _read(path: Path) -> np.ndarray:
  try:
    with rasterio.open(path) as dataset:
      return dataset.read()
  except RasterioIOError as error:
    raise DataError(f"{path}: cannot read pixels, the file may be truncated ({error})") from None


def read_permanent_water(path: Path) -> np.ndarray:
  """bool [H, W]: JRC's permanent water (1) of a JRCWaterHand layer (other values: not)."""
  return _read(path)[0] == 1


def label_validity(raw: np.ndarray, kind: str, nodata: float | None, path: Path) -> np.ndarray:
  """Checks label values and returns bool [H, W], True where the label is 0 or 1.

  Hand labels must be in {-1, 0, 1}. Weak (Otsu) labels must be 0 or 1, or a no-data value
  (-1, 255 or the file's nodata tag), which counts as invalid.
  """
  if kind not in LABEL_KINDS:
    raise ValueError(f"label kind must be one of {LABEL_KINDS}, got {kind!r}")
  allowed = set(HAND_LABEL_VALUES)
  if kind == "weak":
    allowed |= set(WEAK_INVALID_VALUES) | ({int(nodata)} if nodata is not None else set())
  values = np.unique(raw)
  unexpected = [int(value) for value in values if int(value) not in allowed]
  if unexpected:
    raise DataError(
      f"{path}: {kind} label has values {unexpected[:5]} outside {sorted(allowed)}; "
      "labels must be 1 water, 0 not water, or a no-data value"
    )
  return (raw == 0) | (raw == 1)


def read_s1(path: str | Path) -> np.ndarray:
  """float32 [H, W, 2]: VV and VH in dB, NaN where missing (nodata tags become NaN)."""
  header = open_header(path)
  check_s1_header(header)
  return backscatter_hwc(_read(header.path), header.nodata)


def backscatter_hwc(bands: np.ndarray, nodata: float | None) -> np.ndarray:
  """[2, H, W] bands as read -> float32 [H, W, 2], with a finite nodata tag turned into NaN."""
  bands = bands.astype(np.float32)
  if nodata is not None and np.isfinite(nodata):
    bands[bands == nodata] = np.nan
  return np.moveaxis(bands, 0, -1)


def read_chip(
  s1_path: str | Path,
  label_path: str | Path,
  band_domain: str = "db",
  label_kind: str = "hand",
) -> Chip:
  """Reads one chip: engineered bands, binary label and validity mask.

  Args:
    s1_path: 2-band float GeoTIFF, VV then VH in dB, NaN where there is no data.
    label_path: 1-band integer GeoTIFF on the same grid.
    band_domain: "db" or "linear", see `flood_jax.scenes.bands`.
    label_kind: "hand" (values -1, 0, 1) or "weak" (0, 1 or no data).

  Returns:
    A `Chip`. Raises `DataError` naming the file if anything is malformed.
  """
  s1_header, label_header = open_header(s1_path), open_header(label_path)
  check_pair(s1_header, label_header)
  vv_vh_db = read_s1(s1_path)
  raw_label = _read(label_header.path)[0]
  validity = label_validity(raw_label, label_kind, label_header.nodata, label_header.path)
  validity &= input_validity(vv_vh_db[..., 0], vv_vh_db[..., 1])
  image = engineered_bands(vv_vh_db[..., 0], vv_vh_db[..., 1], band_domain)
  label = ((raw_label == 1) & validity).astype(np.uint8)
  return Chip(image, label, validity, vv_vh_db)
