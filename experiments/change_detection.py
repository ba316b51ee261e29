"""What a pre-event scene does to flood commission: the bundled model (or --model) maps
synthetic pre/post pairs and pairs made from the real chips of ../shared, once from the
post-event scene alone and once with the pre-event scene, through `write_scene` with every
default.

    python -m experiments.change_detection [--model=MODEL_DIR] [--pairs=24]

Synthetic pairs: `data.synthetic.synthesize_pair` (the same fields, dark dry land and rivers in
both, the flood plains under water only after). Real pairs: each scorable chip is the post-event
scene; its pre-event copy has every labelled water pixel given the VV and VH of one of the chip's
own dry pixels, drawn at random, so dark dry land is as dark in both. Flood water is scored
against the water that is new after, over the pixels that are not permanent water: omission,
commission and the IoU they give on a scene of 5% flood water.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import rasterio

from flood_jax.api import trained_model
from flood_jax.core.metrics import error_rates
from flood_jax.dataset.catalog import build_catalog, read_record
from flood_jax.dataset.synthetic import synthesize_pair
from flood_jax.mapping.inference import TrainedModel
from flood_jax.mapping.loading import BUNDLED_MODEL
from flood_jax.products.scene_map import MapOptions, Outputs, write_scene


def _write(path: Path, vv_vh_db: np.ndarray, crs, transform) -> Path:
  bands = np.moveaxis(vv_vh_db, -1, 0).astype(np.float32)
  with rasterio.open(path, "w", driver="GTiff", height=bands.shape[1], width=bands.shape[2],
                     count=2, dtype="float32", crs=crs, transform=transform,
                     nodata=float("nan")) as dataset:  # fmt: skip
    dataset.write(bands)
  return path


def synthetic_pairs(count: int):
  """(name, before, after, flood truth, judged pixels, crs, transform) of synthetic pairs."""
  for seed in range(count):
    pair = synthesize_pair(np.random.default_rng(1000 + seed))
    flood = pair.after.water & ~pair.before.water
    yield (f"synthetic_{seed}", pair.before.vv_vh_db, pair.after.vv_vh_db, flood,
           ~pair.before.water, "EPSG:32633", rasterio.transform.from_origin(6e5, 5e6, 10, 10))  # fmt: skip


def real_pairs(root: Path, seed: int = 0):
  """The same for each scorable real chip (module doc)."""
  rng = np.random.default_rng(seed)
  for record in build_catalog(root, ("test",), use_weak=False):
    chip = read_record(record)
    if not chip.validity.any():
      continue
    water, dry = chip.label == 1, (chip.label == 0) & chip.validity
    before = chip.vv_vh_db.copy()
    if water.any() and dry.any():
      before[water] = chip.vv_vh_db[dry][rng.integers(0, dry.sum(), water.sum())]
    with rasterio.open(record.s1_path) as dataset:
      crs, transform = dataset.crs, dataset.transform
    yield record.chip_id, before, chip.vv_vh_db, water, chip.validity, crs, transform


def score(pairs, model: TrainedModel, scratch: Path) -> dict[str, np.ndarray]:
  """Summed [2, 2] matrices of flood water, single-scene and with the pre-event scene."""
  counts = {
    "single scene": np.zeros((2, 2), np.int64),
    "with pre-event": np.zeros((2, 2), np.int64),
  }
  for name, before, after, flood, judged, crs, transform in pairs:
    pre = _write(scratch / f"{name}_before.tif", before, crs, transform)
    post = _write(scratch / f"{name}_after.tif", after, crs, transform)
    for method, options in (("single scene", MapOptions(show_progress=False)),
                            ("with pre-event", MapOptions(pre_event=str(pre), show_progress=False))):  # fmt: skip
      outputs = Outputs(scratch / f"{name}_{method.replace(' ', '_')}.tif")
      write_scene(model, str(post), outputs, options)
      with rasterio.open(outputs.map) as dataset:
        mapped = dataset.read(1) == 1
      where = judged & np.isfinite(after).all(-1)
      counts[method] += np.array([[(~flood & ~mapped & where).sum(), (~flood & mapped & where).sum()],
                                  [(flood & ~mapped & where).sum(), (flood & mapped & where).sum()]])  # fmt: skip
  return counts


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--model", default=str(BUNDLED_MODEL))
  parser.add_argument("--pairs", type=int, default=24)
  parser.add_argument("--real_root", default="../shared/data/sen1floods11/v1.1")
  args = parser.parse_args()
  model = trained_model(args.model)
  print("| pairs | method | omission | commission | 5%-scene IoU |\n|---|---|---|---|---|")
  with tempfile.TemporaryDirectory() as scratch:
    for name, pairs in (("synthetic", synthetic_pairs(args.pairs)),
                        ("real chips", real_pairs(Path(args.real_root)))):  # fmt: skip
      for method, matrix in score(pairs, model, Path(scratch)).items():
        rates = error_rates(matrix)
        print(f"| {name} | {method} | {rates['omission']:.3f} | {rates['commission']:.4f} | "
              f"{rates['scene_iou_5pct']:.3f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
  main()
