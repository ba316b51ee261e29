"""What the catalog says of one chip: `ChipRecord`, and the names its fields take."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

SPLITS = ("train", "valid", "test", "bolivia")
SOURCES = ("hand", "weak")  # how a chip is labelled: by hand, or weakly (Otsu, land cover)


class ChipRecord(NamedTuple):
  """One chip: its files, how its label was made, and where it comes from.

  `source` is how the label was made ("hand" or "weak"), as Sen1Floods11 names its parts;
  `dataset` is the set the chip belongs to (its layout's name, or a generic folder's name) and
  `event` the flood event where the set says it (Sen1Floods11's country), else None. Sets with
  no official split put every chip in "test". `vh_path` is set where VH is a file of its own.
  """

  chip_id: str
  source: str  # one of SOURCES
  split: str  # one of SPLITS; weak chips of Sen1Floods11 are "train"
  s1_path: Path
  label_path: Path
  jrc_path: Path | None = None  # JRCWaterHand: permanent water, where the root has it
  dataset: str = "sen1floods11"
  event: str | None = None
  layout: str = "sen1floods11"  # the name of the layout that reads it (`layouts.LAYOUTS`)
  vh_path: Path | None = None


class Chip(NamedTuple):
  """One chip ready for tiling.

  image: float32 [H, W, 3], the engineered bands (not normalised), 0 where input is missing.
  label: uint8 [H, W], 1 water, 0 otherwise (also 0 where invalid).
  validity: bool [H, W], label is 0 or 1 and VV and VH are finite.
  vv_vh_db: float32 [H, W, 2], VV and VH in dB as read, NaN where missing.
  """

  image: np.ndarray
  label: np.ndarray
  validity: np.ndarray
  vv_vh_db: np.ndarray
