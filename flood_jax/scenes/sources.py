"""Where a scene's VV and VH come from, in the Sentinel-1 products responders actually have.

`resolve_input` turns what a user names into `SceneInput`s, each saying which band of which
file (any path GDAL opens, `/vsizip/` and `/vsicurl/` included) holds VV and VH, in what scale,
and why that scale was decided:

- a stacked file: band 1 VV and band 2 VH (Sen1Floods11 chips), or bands whose descriptions name
  `VV` and `VH` (Earth Engine exports add `angle`);
- two single-band rasters, `--vv` and `--vh` (Planetary Computer assets, HyP3 files);
- an ASF HyP3 RTC product, as its folder or its `.zip` (read through `/vsizip/`, not unpacked):
  `*_VV.tif`, `*_VH.tif`, the scale from the name's scale letter, and `*_ls_map.tif`, whose
  layover and shadow pixels become no data;
- a folder of any of these, mapped one after another.

Scale (`--scale=auto`) is decided from, in order: the HyP3 name's letter, band units,
descriptions or tags that name a scale, then the values (`scale.decide_from_values`). Nothing
here reads pixels but that small sample; `scene.SceneReader` reads them window by window.
"""

from __future__ import annotations

import dataclasses
import json
import re
import zipfile
from contextlib import nullcontext
from pathlib import Path

from flood_jax.errors import DataError, UsageError
from flood_jax.scenes import grd
from flood_jax.scenes.acquired import acquisition, parse_time
from flood_jax.scenes.geotiff import check_same_grid, open_raster
from flood_jax.scenes.scale import (
  SCALES,
  check_forced_scale,
  decide_from_text,
  decide_from_values,
)

# <name> = S1x_yy_YYYYMMDDThhmmss_ppo_RTCzz_G_defklm_ssss; letter e is the scale.
HYP3_NAME = re.compile(
  r"^S1[ABCD]_\w\w_\d{8}T\d{6}_\w{3}_RTC\d+_G_[a-z](?P<scale>[pda])[a-z]{4}_\w{4}"
)
HYP3_SCALES = {"p": "power", "d": "db", "a": "amplitude"}
RASTER_SUFFIXES = (".tif", ".tiff", ".vrt")


@dataclasses.dataclass(frozen=True)
class BandRef:
  """Band `band` (1-based) of the raster at GDAL path `path`."""

  path: str
  band: int = 1


@dataclasses.dataclass(frozen=True)
class SceneInput:
  """One scene to map: where VV and VH are, their scale and why, and an optional mask."""

  name: str
  vv: BandRef
  vh: BandRef
  scale: str
  scale_reason: str
  layover_shadow: BandRef | None = None
  acquired: str | None = None  # ISO 8601, None where unknown (`scenes.acquired`)
  acquired_from: str = "unknown"
  product: str | None = None  # a Sentinel-1 GRD product (.SAFE or .zip), read by `scenes.grd`
  item: str | None = None  # a GRD product as a STAC item's assets (the item's JSON)

  @property
  def is_grd(self) -> bool:
    """A GRD product (a downloaded one, or a STAC item's), calibrated and geocoded here."""
    return bool(self.product or self.item)

  @property
  def files(self) -> tuple[str, ...]:
    """Every path the scene is read from (outputs must never replace one); a signed URL without
    its token, which changes with each signing."""
    if self.product:
      return (self.product,)
    if self.item:
      return tuple(ref.path.split("?")[0] for ref in (self.vv, self.vh))
    refs = (self.vv, self.vh, self.layover_shadow)
    return tuple(dict.fromkeys(ref.path for ref in refs if ref is not None))


def _band_names(dataset) -> list[str]:
  return [(description or "").strip().upper() for description in dataset.descriptions]


def _stacked_bands(path: str) -> tuple[BandRef, BandRef]:
  """VV and VH of one file: bands named VV and VH, else bands 1 and 2 of a 2-band file."""
  with open_raster(path) as dataset:
    names, count = _band_names(dataset), dataset.count
  if "VV" in names and "VH" in names:
    return BandRef(path, names.index("VV") + 1), BandRef(path, names.index("VH") + 1)
  if {"HH", "HV"} & set(names):
    raise DataError(
      f"{path}: bands {names} are HH/HV; the model maps VV and VH (dual-polarised VV+VH scenes)"
    )
  if count == 2:
    return BandRef(path, 1), BandRef(path, 2)
  if count == 1:
    raise UsageError(
      f"{path}: one band and no partner; give VV and VH as --vv=PATH --vh=PATH, or a HyP3 "
      "product folder or zip"
    )
  raise DataError(
    f"{path}: {count} bands, none described as VV and VH (descriptions {names}); "
    "expected VV then VH, or band descriptions naming them"
  )


def _scene(
  name: str,
  vv: BandRef,
  vh: BandRef,
  scale: str,
  hyp3: str | None = None,
  layover_shadow: BandRef | None = None,
  trust_scale: bool = False,
) -> SceneInput:
  """The scene, once its bands are known to share a grid (checked before any value is read,
  so bands of different sizes are refused by name), with its scale decided."""
  if scale != "auto" and scale not in SCALES:
    raise UsageError(f"--scale={scale}: choose auto, {', '.join(SCALES)}")
  with (
    open_raster(vv.path) as vv_dataset,
    open_raster(vh.path) as vh_dataset,
    open_raster(layover_shadow.path) if layover_shadow else nullcontext() as mask_dataset,
  ):
    check_same_grid(vv_dataset, {"VH": vh_dataset, "layover/shadow map": mask_dataset})
    bands = (vv_dataset, vv.band, vh_dataset, vh.band, name)
    if scale != "auto" and not trust_scale:
      check_forced_scale(scale, *bands[:4])
    decided, reason = _decide_scale(scale, *bands, hyp3)
    files = tuple(ref.path for ref in (vv, vh))
    acquired, acquired_from = acquisition(name, files, [vv_dataset, vh_dataset])
  return SceneInput(name, vv, vh, decided, reason, layover_shadow, acquired, acquired_from)


def _decide_scale(scale: str, vv_dataset, vv_band, vh_dataset, vh_band, name, hyp3):
  """(scale, reason) from --scale, then the HyP3 letter, then metadata, then values."""
  if scale != "auto":
    return scale, f"--scale={scale}"
  if hyp3:
    return HYP3_SCALES[hyp3], f"HyP3 product name, scale letter '{hyp3}'"
  decided = decide_from_text(vv_dataset, vv_band) or decide_from_text(vh_dataset, vh_band)
  return decided or decide_from_values(vv_dataset, vv_band, vh_dataset, vh_band, name)


def _hyp3_letter(name: str) -> str | None:
  match = HYP3_NAME.match(name)
  return match.group("scale") if match else None


def _hyp3_members(names: list[str], where: str) -> dict[str, str]:
  """The VV, VH and layover/shadow files among a product's file names."""
  found = {}
  for key, suffix in (("vv", "_VV.tif"), ("vh", "_VH.tif"), ("ls", "_ls_map.tif")):
    matches = sorted(name for name in names if name.endswith(suffix))
    if matches:
      found[key] = matches[0]
  if "vv" not in found and any(name.endswith(("_HH.tif", "_HV.tif")) for name in names):
    raise DataError(f"{where}: an HH/HV product; the model maps VV and VH")
  for key in ("vv", "vh"):
    if key not in found:
      raise DataError(f"{where}: no *_{key.upper()}.tif inside; is this an ASF HyP3 RTC product?")
  return found


def _hyp3_product(path: Path, scale: str, trust_scale: bool = False) -> SceneInput:
  """An ASF HyP3 RTC product, unzipped (a folder) or zipped (read through /vsizip/)."""
  if path.is_dir():
    members = _hyp3_members([str(p) for p in sorted(path.glob("*.tif"))], str(path))
  else:
    try:
      with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    except zipfile.BadZipFile:
      raise DataError(f"{path}: not a readable zip file") from None
    members = {
      key: f"/vsizip/{path.absolute()}/{name}"
      for key, name in _hyp3_members(names, str(path)).items()
    }
  name = Path(members["vv"]).name[: -len("_VV.tif")]
  vv, vh = BandRef(members["vv"]), BandRef(members["vh"])
  layover_shadow = BandRef(members["ls"]) if "ls" in members else None
  return _scene(name, vv, vh, scale, _hyp3_letter(name), layover_shadow, trust_scale)


def grd_scene(path: str, scale: str = "auto") -> SceneInput:
  """The scene of a GRD product (`scenes.grd`): its name, the SAFE driver's bands, sigma0 as
  power, and its start time; its calibration and noise files are checked here (one line naming
  the product and the file, before any mapping)."""
  if scale != "auto":
    raise UsageError(f"--scale={scale}: a GRD product is calibrated to sigma0 here; leave --scale")
  product = grd.Product(path)
  try:
    for polarisation in ("VV", "VH"):
      product.radiometry(polarisation)
    acquired = product.start_time()
    manifest = f"{product.gdal_root}/manifest.safe"
  finally:
    product.close()
  name = Path(product.path).name.removesuffix(".zip").removesuffix(".SAFE")
  return SceneInput(
    name,
    BandRef(manifest, 1),
    BandRef(manifest, 2),
    "power",
    "a Sentinel-1 GRD product: sigma0 from its calibration and thermal-noise LUTs",
    acquired=acquired,
    acquired_from="the product's manifest" if acquired else "unknown",
    product=product.path,
  )


def grd_item_scene(item_json: str) -> SceneInput:
  """The scene of a GRD product given as a STAC item's assets (`grd.ItemProduct`); its
  calibration and noise assets are read and checked here."""
  item = json.loads(item_json)
  product = grd.ItemProduct(item)
  try:
    for polarisation in ("VV", "VH"):
      product.radiometry(polarisation)
  finally:
    product.close()
  vv, vh = (BandRef(grd.gdal_href(product.href(pol, "measurement"))) for pol in ("VV", "VH"))
  acquired = product.start_time()
  return SceneInput(
    item["id"],
    vv,
    vh,
    "power",
    "a Sentinel-1 GRD item: sigma0 from its calibration and thermal-noise assets",
    acquired=acquired,
    acquired_from="the STAC item" if acquired else "unknown",
    item=item_json,
  )


LIST_KINDS = ("folder", "text_list", "stac_list")  # kinds that name several scenes


def input_kind(input: str) -> str:
  """What an input string names, decided here alone: "gdal" (a /vsi path), "grd" (a Sentinel-1
  SAFE product, folder or zip, by its name: `scenes.grd`), "hyp3_zip",
  "hyp3_folder" (a folder holding *_VV.tif), "folder" (a folder of inputs), "text_list" (.txt,
  one input per line), "stac_list" (a .json ItemCollection) or "raster" (any other file)."""
  if input.startswith("/vsi"):
    return "gdal"
  if grd.is_product(input):
    return "grd"
  path = Path(input)
  if path.is_dir():
    return "hyp3_folder" if any(path.glob("*_VV.tif")) else "folder"
  return {".zip": "hyp3_zip", ".txt": "text_list", ".json": "stac_list"}.get(
    path.suffix.lower(), "raster"
  )


def resolve_input(
  input: str | None = None,
  vv: str | None = None,
  vh: str | None = None,
  scale: str = "auto",
  trust_scale: bool = False,
  acquired: str | None = None,
) -> SceneInput:
  """The one scene named by --input, or by --vv and --vh; a forced `scale` is checked against
  the values unless `trust_scale`; `acquired` (ISO 8601) replaces what the product says."""
  scene = _resolved(input, vv, vh, scale, trust_scale)
  if acquired is None:
    return scene
  given = parse_time(acquired).isoformat()
  return dataclasses.replace(scene, acquired=given, acquired_from="--acquired")


def _resolved(input, vv, vh, scale: str, trust_scale: bool) -> SceneInput:
  if vv or vh:
    if not (vv and vh) or input:
      raise UsageError("give --vv and --vh together, and no --input with them")
    return _scene(Path(vv).stem, BandRef(vv), BandRef(vh), scale, trust_scale=trust_scale)
  if input is None:
    raise UsageError("--input (or --vv and --vh) is required")
  path, kind = Path(input), input_kind(input)
  if kind != "gdal" and not path.exists():
    raise UsageError(f"{input}: input not found")
  if kind == "grd":
    return grd_scene(input, scale)
  if kind in ("hyp3_zip", "hyp3_folder"):
    return _hyp3_product(path, scale, trust_scale)
  return _scene(path.stem, *_stacked_bands(input), scale, trust_scale=trust_scale)


def folder_entries(folder: Path) -> list[str]:
  """What a folder of inputs holds: rasters, HyP3 zips and HyP3 product folders."""
  entries = [
    path
    for path in sorted(folder.iterdir())
    if input_kind(str(path)) in ("grd", "hyp3_zip", "hyp3_folder")
    or (input_kind(str(path)) == "raster" and path.suffix.lower() in RASTER_SUFFIXES)
  ]
  if not entries:
    raise UsageError(f"{folder}: folder holds no raster, HyP3 zip or HyP3 product folder")
  return [str(path) for path in entries]
