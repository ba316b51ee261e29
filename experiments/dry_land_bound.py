"""How far the backscatter of one scene can go on the real chips of ../shared: the omission that a
backscatter cap forces on any model, and the best that any rule on a pixel's VV and VH can do
when it is fitted on these same chips.

    python -m experiments.dry_land_bound [--real_root=../shared/data/sen1floods11/v1.1]

Reads the scorable chips of the test split with the validity `evaluate` uses.
1. For each cap, the share of labelled water brighter than it in VV: a map that keeps water only
   where VV <= cap misses at least that share, whatever the model.
2. An upper bound for any map made from a pixel's (VV, VH) in dB, or their k x k mean (power
   averaged over valid pixels): the Bayes rule fitted on the chips it is scored on. Each 0.5 dB
   cell of the (VV, VH) plane is water or dry as a whole; cells are taken as water in order of
   their share of water, which traces the best commission for each omission that such a rule can
   reach. Printed: the best IoU on a scene of 5% flood water with commission <= 0.03, and the
   omission at commission 0.03. Fitted on its own test data, it is an upper bound, not a method.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from flood_jax.core.metrics import scene_iou
from flood_jax.dataset.catalog import build_catalog, read_record
from flood_jax.mapping.change import smoothed_db

CAPS_DB = (-11.0, -13.0, -15.5)
WINDOWS = (1, 3, 5, 9, 15)
CELL_DB = 0.5
LOW_DB, HIGH_DB = -50.0, 10.0  # the (VV, VH) plane's range; values beyond go to its edge cells
MAX_COMMISSION = 0.03


def scorable_chips(root: Path):
  """(vv_vh_db [H, W, 2], water [H, W], validity [H, W]) of each test chip with valid pixels."""
  for record in build_catalog(root, ("test",), use_weak=False):
    chip = read_record(record)
    if chip.validity.any():
      yield chip.vv_vh_db, chip.label == 1, chip.validity


def window_mean_db(vv_vh_db: np.ndarray, validity: np.ndarray, size: int) -> np.ndarray:
  """The mean power of each band over a size x size window of valid pixels, in dB
  (`change.smoothed_db` of each band with the invalid pixels left out)."""
  if size == 1:
    return vv_vh_db
  kept = np.where(validity[..., None], vv_vh_db, np.nan)
  return np.stack([smoothed_db(kept[..., band], size) for band in range(2)], -1)


def cap_floor(vv_db: np.ndarray, water: np.ndarray, cap_db: float) -> float:
  """The share of water pixels brighter than the cap: the least omission under it."""
  return float((vv_db[water] > cap_db).mean())


def cells(vv_vh_db: np.ndarray) -> np.ndarray:
  """The index of each pixel's CELL_DB cell of the (VV, VH) plane."""
  side = int(round((HIGH_DB - LOW_DB) / CELL_DB))
  index = np.clip(((vv_vh_db - LOW_DB) / CELL_DB).astype(np.int64), 0, side - 1)
  return index[..., 0] * side + index[..., 1]


def lookup_curve(cell: np.ndarray, water: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(omission, commission) of the fitted cell rule, one pair per number of water cells."""
  size = int(cell.max()) + 1
  wet = np.bincount(cell[water], minlength=size).astype(np.float64)
  dry = np.bincount(cell[~water], minlength=size).astype(np.float64)
  order = np.argsort(-wet / np.maximum(wet + dry, 1.0), kind="stable")
  omission = 1.0 - np.cumsum(wet[order]) / wet.sum()
  commission = np.cumsum(dry[order]) / dry.sum()
  return np.concatenate([[1.0], omission]), np.concatenate([[0.0], commission])


def best_under(
  omission: np.ndarray, commission: np.ndarray, max_commission: float = MAX_COMMISSION
):
  """(5%-scene IoU, omission, commission) of the point with the best 5%-scene IoU within
  max_commission, and the omission at max_commission."""
  iou = scene_iou(omission, commission)
  best = int(np.argmax(np.where(commission <= max_commission, iou, -1.0)))
  at_limit = omission[np.searchsorted(commission, max_commission, side="right") - 1]
  return float(iou[best]), float(omission[best]), float(commission[best]), float(at_limit)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--real_root", default="../shared/data/sen1floods11/v1.1")
  args = parser.parse_args()
  chips = list(scorable_chips(Path(args.real_root)))
  vv = np.concatenate([image[..., 0][valid] for image, _, valid in chips])
  water = np.concatenate([label[valid] for _, label, valid in chips])
  print(f"{len(chips)} chips, {water.size:,} valid pixels, {water.sum():,} water\n")
  print("| cap | water brighter than the cap (least omission) |\n|---|---|")
  for cap in CAPS_DB:
    print(f"| VV <= {cap:g} dB | {cap_floor(vv, water, cap):.3f} |")
  print("\n| backscatter | best 5%-scene IoU at commission <= 0.03 (omission, commission) | "
        "omission at commission 0.03 |\n|---|---|---|")  # fmt: skip
  for size in WINDOWS:
    values = np.concatenate(
      [window_mean_db(image, valid, size)[valid] for image, _, valid in chips]
    )
    iou, omission, commission, at_limit = best_under(*lookup_curve(cells(values), water))
    name = "pixel" if size == 1 else f"{size} x {size} mean"
    print(f"| {name} | {iou:.3f} ({omission:.3f}, {commission:.3f}) | {at_limit:.3f} |", flush=True)


if __name__ == "__main__":
  main()
