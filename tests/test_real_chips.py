"""The bundled model maps every real chip of ../shared with every default: the Sen1Floods11 and
TerraMesh chips through `python -m flood_jax.predict`, the DFC 2024 chips (no CRS) through the
catalog's reader and the Python API."""

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.conftest import shared_set

PROJECT = Path(__file__).resolve().parents[1]


def test_predict_maps_every_georeferenced_real_chip(real_root, tmp_path):
  chips = sorted((real_root / "data/flood_events/HandLabeled/S1Hand").glob("*.tif"))
  chips += sorted((shared_set("terramesh") / "S1RTC").glob("*.tif"))
  listing = tmp_path / "chips.txt"
  listing.write_text("\n".join(str(chip) for chip in chips) + "\n")
  result = subprocess.run(
    [sys.executable, "-m", "flood_jax.predict", f"--input={listing}", f"--output={tmp_path / 'maps'}"],
    cwd=PROJECT, capture_output=True, text=True,
  )  # fmt: skip
  with (tmp_path / "maps" / "summary.csv").open() as file:
    rows = {row["scene"]: row for row in csv.DictReader(file)}
  assert len(rows) == len(chips) == 12, result.stderr[-2000:]
  # Paraguay_34417's image is NaN everywhere: no map, a failed row, exit status 1.
  assert rows.pop("Paraguay_34417_S1Hand")["error"].endswith("no map written")
  assert {row["status"] for row in rows.values()} == {"done"} and result.returncode == 1
  assert "real chips of sen1floods11, dfc2024, terramesh" in result.stderr  # what it was trained on


def test_the_api_maps_every_dfc2024_chip_read_by_the_catalog():
  import flood_jax
  from flood_jax.dataset.catalog import build_catalog, read_record

  model = flood_jax.load_model()
  records = build_catalog(shared_set("dfc2024"))
  shares = {}
  for record in records:
    chip = read_record(record)
    flood = model.map(chip.vv_vh_db[..., 0], chip.vv_vh_db[..., 1])
    assert flood.classes.shape == (512, 512) and set(np.unique(flood.classes)) <= {0, 1, 255}
    shares[record.chip_id] = flood.water[chip.validity].mean()
  assert len(shares) == 11
  assert shares["dfc2024_0"] > 0.95  # the all-water lake (-21.7 dB VV), which the synthetic-only
  # model mapped half dry
  assert shares["dfc2024_7"] < 0.05 and shares["dfc2024_8"] < 0.05  # chips with no water
