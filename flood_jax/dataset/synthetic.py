r"""Synthetic Sentinel-1 flood chips in the Sen1Floods11 layout, for the demo and the tests.

No real training set can be downloaded where this project is built and tested, so the demo trains
on data generated here. The generator is a small physical-statistical model of a Sentinel-1 GRD
IW scene at 10 m, calibrated against the valid pixels of the seven real Sen1Floods11 chips
(`python -m flood_jax.dataset.realism` plots both; the figures below are the measured ones):

* Backscatter is drawn in linear power and multiplied by speckle, Gamma(L, 1/L) with an
  equivalent number of looks L of about 4.4 (GRD IW high resolution; ESA Sentinel-1 User Guide),
  independently for VV and VH.
* Dry land: a patchwork of parcels (fields), each with its own level, plus smooth terrain
  variation. Real dry pixels have VV median -9.1 dB (5-95%: -13.5..-5.4) and VH median -16.0 dB
  (-21.6..-12.2); the parcel levels are drawn to match. Small bright clusters are settlements
  (double bounce, VV up to +5 dB).
* Open calm water is dark: VV about -20 dB and VH about -28 dB, with wind-roughened patches a few
  dB brighter. Real water pixels have VV median -13.3 dB (5-95%: -22.7..-5.8) and VH median
  -21.9 dB (-33.9..-13.8): a large share of labelled flood water in Sen1Floods11 is shallow water
  in fields or flooded vegetation, which is much brighter than open water. The generator labels
  such areas water with VV about -13.5 dB and VH about -22 dB, so brightness alone cannot
  separate the classes.
* Dark land that is not water (dry sand, tarmac, radar shadow behind slopes) is as dark as water
  in VV but keeps land-like texture and shape, so "dark means water" is not enough either.
* Water bodies: lakes and flood plains from thresholded smooth random fields (natural, blobby
  shorelines), and meandering rivers 2-25 pixels wide. The water fraction per chip ranges from
  none to almost all. The rivers are the permanent water: hand chips get a JRCWaterHand layer
  (uint8, 1 on the rivers), as the real ones carry JRC's, so flood and permanent water are
  scored apart as the dataset's authors score them.
* No data: swath edges (NaN half-planes) on some chips; hand labels have -1 patches (cloud in
  the optical image the annotators used) and -1 wherever the image is missing. Weak labels come,
  as in Sen1Floods11, from Otsu thresholding of VH, so they are noisy in the same way.
* Georeferencing: UTM (EPSG:326xx), 10 m pixels.

`python -m flood_jax.synthesize --output=DIR --num_hand=N --num_weak=M --seed=S` (or
`--official_sizes`: the real dataset's 252/89/90/15 hand chips and 4,385 weak ones) writes a
dataset root that `flood_jax.dataset.catalog` reads like the real one. Same seed, same bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import rasterio
from rasterio.transform import from_origin
from scipy import ndimage

from flood_jax.core.baselines import otsu_threshold
from flood_jax.core.files import atomic_folder, atomic_path
from flood_jax.dataset.sen1floods11 import HAND_DIR, SPLIT_DIR, WEAK_DIR

CHIP_SIZE = 512
PIXEL_METRES = 10.0
EQUIVALENT_LOOKS = 4.4
EVENTS = (
  "Ghana",
  "India",
  "Mekong",
  "Nigeria",
  "Pakistan",
  "Paraguay",
  "Somalia",
  "Spain",
  "Sri-Lanka",
  "USA",
)
HELD_OUT_EVENT = "Bolivia"


class SyntheticScene(NamedTuple):
  vv_vh_db: np.ndarray  # float32 [H, W, 2], NaN where no data
  water: np.ndarray  # bool [H, W], the true water mask
  hand_label: np.ndarray  # int16 [H, W], -1 / 0 / 1 as in LabelHand
  permanent: np.ndarray | None = None  # bool [H, W], the rivers: JRCWaterHand's permanent water


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
  """Zero-mean, unit-std Gaussian random field with correlation length about `scale` pixels."""
  factor = max(1, int(scale // 4))
  coarse_shape = (shape[0] // factor + 3, shape[1] // factor + 3)
  coarse = ndimage.gaussian_filter(rng.standard_normal(coarse_shape), sigma=scale / factor / 2)
  field = ndimage.zoom(coarse, factor, order=1)[: shape[0], : shape[1]]
  return (field - field.mean()) / (field.std() + 1e-9)


def _river(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
  """A meandering river crossing the chip, 2-25 pixels wide."""
  height, width = shape
  steps = 4 * max(height, width)
  angle = rng.uniform(0, 2 * np.pi)
  position = np.array([rng.uniform(0, height), rng.uniform(0, width)])
  turn = 0.0
  points = []
  for _ in range(steps):
    turn = 0.9 * turn + rng.normal(0, 0.05)
    angle += turn
    position = position + np.array([np.sin(angle), np.cos(angle)])
    points.append(position.copy())
  points = np.array(points) - np.array(points).mean(0) + np.array([height / 2, width / 2])
  points += rng.uniform(-0.3, 0.3, 2) * np.array([height, width])
  mask = np.zeros(shape, bool)
  rows, cols = np.round(points).astype(int).T
  inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
  mask[rows[inside], cols[inside]] = True
  half_width = rng.uniform(1, 12)
  return ndimage.distance_transform_edt(~mask) <= half_width


def _parcels(rng: np.random.Generator, shape: tuple[int, int], count: int) -> np.ndarray:
  """Integer map of field parcels (nearest of `count` random seeds, stretched along one axis)."""
  height, width = shape
  seeds = rng.uniform(0, 1, (count, 2)) * np.array([height, width])
  stretch = rng.uniform(0.5, 2.0)
  rows, cols = np.mgrid[0:height:4, 0:width:4]
  distance = (rows[..., None] - seeds[:, 0]) ** 2 * stretch + (cols[..., None] - seeds[:, 1]) ** 2
  coarse = np.argmin(distance, axis=-1)
  return np.repeat(np.repeat(coarse, 4, 0), 4, 1)[:height, :width]


def _to_db(power: np.ndarray) -> np.ndarray:
  return 10.0 * np.log10(np.maximum(power, 1e-6))


def _speckle(rng: np.random.Generator, power: np.ndarray, looks: float) -> np.ndarray:
  return power * rng.gamma(looks, 1.0 / looks, power.shape)


def _water_parts(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
  """(blobby lakes and flood plains at a drawn fraction, rivers)."""
  fraction = rng.choice([0.0, rng.uniform(0.0, 0.05), rng.uniform(0.05, 0.95)], p=[0.1, 0.2, 0.7])
  plains = np.zeros(shape, bool)
  if fraction > 0:
    field = _smooth_field(rng, shape, rng.uniform(10, 60))
    field += 0.3 * _smooth_field(rng, shape, rng.uniform(3, 8))
    plains = field > np.quantile(field, 1.0 - fraction)
  rivers = np.zeros(shape, bool)
  for _ in range(rng.choice([0, 1, 2], p=[0.5, 0.35, 0.15])):
    rivers |= _river(rng, shape)
  return plains, rivers


def _water_mask(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
  """(blobby lakes and flood plains at a drawn fraction plus rivers, the rivers alone)."""
  plains, rivers = _water_parts(rng, shape)
  return plains | rivers, rivers


def _dry_land(
  rng: np.random.Generator, shape: tuple[int, int], water: np.ndarray, dark_fields: float = 0.0
):
  """(VV, VH) dB of dry land: parcels of fields at their own levels, terrain, settlements, and
  on some chips dark land that is not water (sand, tarmac, radar shadow).

  `dark_fields` > 0: up to that share of a chip's parcels (drawn per chip) are dark smooth
  fields (bare or wet soil, low crops), as dark in VH as shallow water and with the large
  VV - VH gap of the real chips' darkest dry land (VV about -11.8 dB, VV - VH about 10.5 dB).
  Each parcel then also has its own VV - VH gap instead of the chip's.
  """
  parcels = _parcels(rng, shape, int(rng.integers(8, 60)))
  count = parcels.max() + 1
  parcel_vv = rng.normal(-9.0, 1.7, count)
  terrain = 1.0 * _smooth_field(rng, shape, rng.uniform(20, 80))
  gap = rng.normal(7.0, 0.8)
  if dark_fields > 0:  # drawn only here, so that dark_fields=0 keeps the original chips
    dark = rng.uniform(size=count) < rng.uniform(0.0, dark_fields)
    # The other parcels a little brighter, so that dry land's medians stay those of the real
    # chips (python -m flood_jax.dataset.realism).
    gap = np.where(dark, rng.normal(10.5, 1.0, count), gap - 0.4 + rng.normal(0.0, 0.6, count))
    parcel_vv = np.where(dark, rng.normal(-11.8, 1.0, count), parcel_vv + 0.4)
    gap = gap[parcels]
  dry_vv = parcel_vv[parcels] + terrain
  dry_vh = dry_vv - gap + 0.8 * _smooth_field(rng, shape, 30)
  settlements = _smooth_field(rng, shape, 6) > rng.uniform(2.2, 3.5)
  dry_vv = np.where(settlements, rng.uniform(-3, 4), dry_vv)
  dry_vh = np.where(settlements, dry_vv - 8.0, dry_vh)
  if rng.uniform() < 0.2:
    dark_land = _smooth_field(rng, shape, rng.uniform(8, 30)) > rng.uniform(1.5, 2.5)
    dark_land &= ~water
    dry_vv = np.where(
      dark_land, rng.normal(-17.0, 2.0) + 1.5 * _smooth_field(rng, shape, 10), dry_vv
    )
    dry_vh = np.where(dark_land, dry_vv - rng.normal(8.0, 1.0), dry_vh)
  return dry_vv, dry_vh


def _water_backscatter(rng: np.random.Generator, shape: tuple[int, int]):
  """(VV, VH) dB of water: calm open water, wind-roughened patches, shallow flood and flooded
  vegetation."""
  open_vv = rng.normal(-20.0, 1.8) + 2.0 * np.maximum(_smooth_field(rng, shape, 40), 0)
  open_vh = open_vv - rng.normal(8.0, 1.0)
  shallow = _smooth_field(rng, shape, rng.uniform(15, 50)) > rng.normal(0.1, 0.7)
  shallow_vv = rng.normal(-13.5, 1.2) + 1.0 * _smooth_field(rng, shape, 15)
  shallow_vh = shallow_vv - rng.normal(8.5, 0.8)
  return np.where(shallow, shallow_vv, open_vv), np.where(shallow, shallow_vh, open_vh)


def _add_nodata(rng: np.random.Generator, vv_vh_db: np.ndarray, hand_label: np.ndarray) -> None:
  """Swath edges (NaN half-planes) and label gaps, in place; -1 wherever the image is missing."""
  height, width = hand_label.shape
  if rng.uniform() < 0.15:  # swath edge: a half-plane without data
    rows, cols = np.mgrid[0:height, 0:width]
    angle = rng.uniform(0, 2 * np.pi)
    distance = (rows - height / 2) * np.sin(angle) + (cols - width / 2) * np.cos(angle)
    edge = distance > rng.uniform(0.2, 0.48) * max(height, width)
    vv_vh_db[edge] = np.nan
  if rng.uniform() < 0.3:  # cloud in the optical image the annotators used
    hand_label[_smooth_field(rng, hand_label.shape, 25) > rng.uniform(1.3, 2.5)] = -1
  hand_label[~np.isfinite(vv_vh_db).all(-1)] = -1


def synthesize_scene(
  rng: np.random.Generator,
  shape: tuple[int, int] = (CHIP_SIZE, CHIP_SIZE),
  event_offset_db: float = 0.0,
  nodata: bool = True,
  dark_fields: float = 0.0,
) -> SyntheticScene:
  """Draws one scene: VV and VH in dB, the true water mask and a hand label.

  Args:
    rng: the only source of randomness.
    shape: (H, W) in pixels of 10 m.
    event_offset_db: a level shift shared by one flood event (incidence angle, season).
    nodata: whether swath edges and label gaps may appear.
    dark_fields: the largest share of dark smooth dry parcels (see `_dry_land`).
  """
  water, rivers = _water_mask(rng, shape)
  dry_vv, dry_vh = _dry_land(rng, shape, water, dark_fields)
  water_vv, water_vh = _water_backscatter(rng, shape)
  vv = np.where(water, water_vv, dry_vv) + event_offset_db
  vh = np.where(water, water_vh, dry_vh) + event_offset_db
  vv_db = _to_db(_speckle(rng, 10 ** (vv / 10), EQUIVALENT_LOOKS))
  vh_db = _to_db(_speckle(rng, 10 ** (vh / 10), EQUIVALENT_LOOKS))
  vv_vh_db = np.stack([vv_db, vh_db], -1).astype(np.float32)
  hand_label = water.astype(np.int16)
  if nodata:
    _add_nodata(rng, vv_vh_db, hand_label)
  return SyntheticScene(vv_vh_db, water, hand_label, rivers)


class ScenePair(NamedTuple):
  before: SyntheticScene  # the area before the flood: its rivers only are water
  after: SyntheticScene  # the same area flooded: rivers and flood plains


def synthesize_pair(
  rng: np.random.Generator,
  shape: tuple[int, int] = (CHIP_SIZE, CHIP_SIZE),
  dark_fields: float = 0.0,
) -> ScenePair:
  """Pre- and post-event scenes of one area: the same fields, settlements, dark dry land (sand,
  shadow) and rivers (permanent water), the flood plains under water only after, and speckle
  drawn anew for each acquisition. No no-data areas."""
  plains, rivers = _water_parts(rng, shape)
  water = plains | rivers
  dry_vv, dry_vh = _dry_land(rng, shape, water, dark_fields)
  water_vv, water_vh = _water_backscatter(rng, shape)
  scenes = []
  for wet in (rivers, water):
    vv = np.where(wet, water_vv, dry_vv)
    vh = np.where(wet, water_vh, dry_vh)
    vv_db = _to_db(_speckle(rng, 10 ** (vv / 10), EQUIVALENT_LOOKS))
    vh_db = _to_db(_speckle(rng, 10 ** (vh / 10), EQUIVALENT_LOOKS))
    vv_vh_db = np.stack([vv_db, vh_db], -1).astype(np.float32)
    scenes.append(SyntheticScene(vv_vh_db, wet, wet.astype(np.int16)))
  return ScenePair(*scenes)


def weak_label(vv_vh_db: np.ndarray) -> np.ndarray:
  """int16 [H, W]: Otsu thresholding of VH, as the Sen1Floods11 weak labels; -1 where no data."""
  vh = vv_vh_db[..., 1]
  finite = np.isfinite(vv_vh_db).all(-1)
  label = np.full(vh.shape, -1, np.int16)
  if finite.any():
    label[finite] = (vh[finite] < otsu_threshold(vh[finite])).astype(np.int16)
  return label


def _profile(crs_zone: int, origin: tuple[float, float], count: int, dtype: str, nodata) -> dict:
  return {
    "driver": "GTiff",
    "height": CHIP_SIZE,
    "width": CHIP_SIZE,
    "count": count,
    "dtype": dtype,
    "crs": f"EPSG:{32600 + crs_zone}",
    "transform": from_origin(origin[0], origin[1], PIXEL_METRES, PIXEL_METRES),
    "nodata": nodata,
    "compress": "deflate",
    "tiled": True,
    "blockxsize": 256,
    "blockysize": 256,
  }


def write_geotiff(path: Path, array: np.ndarray, profile: dict) -> None:
  """Writes [H, W, C] or [H, W] as a GeoTIFF; atomically (temporary name, then rename)."""
  bands = array[None] if array.ndim == 2 else np.moveaxis(array, -1, 0)
  with atomic_path(path) as partial, rasterio.open(partial, "w", **profile) as dataset:
    dataset.write(bands)


OFFICIAL_SPLIT_SIZES = {"train": 252, "valid": 89, "test": 90, "bolivia": 15}  # hand chips
OFFICIAL_WEAK_CHIPS = 4385


def _assign_splits(
  rng: np.random.Generator, num_hand: int, sizes: dict[str, int] | None = None
) -> list[str]:
  """`sizes` hand chips per split (OFFICIAL_SPLIT_SIZES: the real dataset's), or official-like
  proportions of `num_hand`: 10% Bolivia (held-out event), then 60/20/20 train/valid/test."""
  if sizes is not None:
    splits = [split for split in ("train", "valid", "test") for _ in range(sizes[split])]
    rng.shuffle(splits)
    return splits + ["bolivia"] * sizes["bolivia"]
  num_bolivia = max(1, round(0.1 * num_hand)) if num_hand >= 5 else 0
  rest = num_hand - num_bolivia
  num_valid = max(1, round(0.2 * rest)) if rest >= 3 else 0
  num_test = max(1, round(0.2 * rest)) if rest >= 3 else 0
  splits = ["train"] * (rest - num_valid - num_test) + ["valid"] * num_valid + ["test"] * num_test
  rng.shuffle(splits)
  return splits + ["bolivia"] * num_bolivia


def _write_chip(root: Path, source: str, chip_id: str, scene, zone: int, origin) -> None:
  """One chip's files: S1Hand, LabelHand and JRCWaterHand, or S1Weak and its Otsu label."""
  s1_profile = _profile(zone, origin, 2, "float32", float("nan"))
  label_profile = _profile(zone, origin, 1, "int16", None)
  if source == "hand":
    write_geotiff(  # the rivers are the permanent water, as JRC's layer marks it
      root / HAND_DIR / "JRCWaterHand" / f"{chip_id}_JRCWaterHand.tif",
      scene.permanent.astype(np.uint8),
      _profile(zone, origin, 1, "uint8", None),
    )
    write_geotiff(root / HAND_DIR / "S1Hand" / f"{chip_id}_S1Hand.tif", scene.vv_vh_db, s1_profile)
    write_geotiff(
      root / HAND_DIR / "LabelHand" / f"{chip_id}_LabelHand.tif", scene.hand_label, label_profile
    )
    return
  write_geotiff(root / WEAK_DIR / "S1Weak" / f"{chip_id}_S1Weak.tif", scene.vv_vh_db, s1_profile)
  write_geotiff(
    root / WEAK_DIR / "S1OtsuLabelWeak" / f"{chip_id}_S1OtsuLabelWeak.tif",
    weak_label(scene.vv_vh_db),
    label_profile,
  )


def generate_dataset(
  output: str | Path,
  num_hand: int,
  num_weak: int,
  seed: int,
  dark_fields: float = 0.0,
  split_sizes: dict[str, int] | None = None,
) -> Path:
  """Writes a synthetic dataset root in the Sen1Floods11 v1.1 layout and returns it;
  `split_sizes` (hand chips per split, e.g. OFFICIAL_SPLIT_SIZES) replaces `num_hand`."""
  from tqdm import tqdm

  root = Path(output)
  rng = np.random.default_rng(seed)
  event_offsets = {event: rng.normal(0, 0.7) for event in (*EVENTS, HELD_OUT_EVENT)}
  event_offsets[HELD_OUT_EVENT] = 1.0  # a held-out event a little unlike the others
  rows: dict[str, list[str]] = {split: [] for split in ("train", "valid", "test", "bolivia")}
  jobs = [("hand", split) for split in _assign_splits(rng, num_hand, split_sizes)]
  jobs += [("weak", "train")] * num_weak
  used_ids = set()
  for source, split in tqdm(jobs, desc="synthetic chips", unit="chip", file=sys.stderr):
    event = HELD_OUT_EVENT if split == "bolivia" else EVENTS[rng.integers(len(EVENTS))]
    number = int(rng.integers(10_000, 1_000_000))
    while f"{event}_{number}" in used_ids:
      number += 1
    chip_id = f"{event}_{number}"
    used_ids.add(chip_id)
    chip_rng = np.random.default_rng([seed, number, len(used_ids)])
    scene = synthesize_scene(
      chip_rng, event_offset_db=event_offsets[event], dark_fields=dark_fields
    )
    zone = 30 + (EVENTS.index(event) if event in EVENTS else len(EVENTS))
    origin = (float(chip_rng.integers(2, 8)) * 1e5, float(chip_rng.integers(1, 50)) * 1e5)
    _write_chip(root, source, chip_id, scene, zone, origin)
    if source == "hand":
      rows[split].append(f"{chip_id}_S1Hand.tif,{chip_id}_LabelHand.tif")
  (root / SPLIT_DIR).mkdir(parents=True, exist_ok=True)
  for split, lines in rows.items():
    # The official files: no header, CRLF line endings.
    content = "".join(f"{line}\r\n" for line in lines)
    (root / SPLIT_DIR / f"flood_{split}_data.csv").write_bytes(content.encode())
  return root


def ensure_synthetic_root(config, workdir: Path) -> Path:
  """`<workdir>/synthetic/v1.1`, generated from the config's sizes and seed unless complete.

  Generated under a partial name and renamed, so an interrupted run regenerates it.
  """
  from absl import logging

  root = Path(workdir) / "synthetic" / "v1.1"
  if not (root / "splits").exists():
    logging.info("No data root given: generating synthetic Sen1Floods11 data in %s", root)
    with atomic_folder(Path(workdir) / "synthetic") as partial:
      generate_dataset(
        partial / "v1.1",
        config.data.synthetic_hand,
        config.data.synthetic_weak,
        config.seed,
        config.data.synthetic_dark_fields,
      )
  return root
