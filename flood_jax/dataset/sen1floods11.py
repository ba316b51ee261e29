"""The chips of a Sen1Floods11 root in its official layout (one of the catalog's layouts).

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

from flood_jax.dataset.records import SPLITS, ChipRecord
from flood_jax.errors import DataError
from flood_jax.scenes.geotiff import check_pair, open_header

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
