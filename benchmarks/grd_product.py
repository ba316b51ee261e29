"""Sentinel-1 GRD products written to the product specification, from known sigma0.

`write_grd` makes a `.SAFE` folder (or its `.zip`) as ESA distributes it (Sentinel-1 Product
Specification, S1-RS-MDA-52-7441): `manifest.safe` (XFDU: the measurement data units, their
metadata objects and data objects), and for each polarisation `annotation/*.xml` (header, image
information, the geolocation grid), `annotation/calibration/calibration-*.xml` (sigmaNought,
betaNought, gamma and dn vectors), `annotation/calibration/noise-*.xml` (noise range vectors
and noise azimuth blocks, IPF 2.9 and later) and `measurement/*.tiff` (uint16 digital numbers,
no georeferencing). The digital numbers are made from the sigma0 given through the inverse of
what a reader undoes:

    DN = round(sqrt(sigma0 * sigmaNought**2 + noise_range * noise_azimuth))

so a reader that calibrates and removes the thermal noise gets sigma0 back (to the rounding of
the DN). GDAL's SAFE driver opens the result. `rows_of(line0, lines)` streams sigma0 (a full-size
IW scene is never held whole); `lonlat(line, pixel)` places the geolocation grid.
"""

from __future__ import annotations

import datetime as dt
import shutil
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

GEOLOCATION_LINES, GEOLOCATION_PIXELS = 10, 21  # the grid's points along and across track
CALIBRATION_PIXEL_STEP = 40


def sigma_nought(lines: np.ndarray, pixels: np.ndarray, samples: int) -> np.ndarray:
  """The calibration LUT's sigmaNought (DN per unit amplitude): rising across the swath, a
  little along it, as real IW LUTs do (about 600-700)."""
  return 600.0 + 100.0 * pixels[None, :] / samples + 5.0 * np.sin(lines[:, None] / 500.0)


def noise_range(lines: np.ndarray, pixels: np.ndarray, samples: int) -> np.ndarray:
  """The noise range LUT (DN²): a noise floor near -26 dB of sigma0 (-24 dB at its peaks; IW's
  noise-equivalent sigma0 is -22 dB at worst), highest at the swath's
  edges and between its sub-swaths."""
  position = pixels[None, :] / max(samples - 1, 1)
  shape = 1.0 + 0.6 * np.cos(6 * np.pi * position) ** 2
  return (10 ** (-2.6) * 620.0**2) * shape * (1.0 + 0 * lines[:, None])


def azimuth_blocks(lines: int, samples: int, mode: str) -> list[dict]:
  """The noise azimuth blocks: one per sub-swath (IW1-3, EW1-5), a scalloping of +-5% along
  track."""
  count = 3 if mode == "IW" else 5
  edges = np.linspace(0, samples, count + 1).astype(int)
  line_nodes = np.unique(np.linspace(0, lines - 1, 8).astype(int))
  blocks = []
  for index in range(count):
    lut = 1.0 + 0.05 * np.sin(line_nodes / 300.0 + index)
    blocks.append({
      "swath": f"{mode}{index + 1}",
      "first_line": 0,
      "last_line": lines - 1,
      "first_sample": int(edges[index]),
      "last_sample": int(edges[index + 1] - 1),
      "lines": line_nodes,
      "lut": lut,
    })  # fmt: skip
  return blocks


def azimuth_factor(blocks: list[dict], lines: np.ndarray, samples: int) -> np.ndarray:
  """float64 [len(lines), samples]: the noise azimuth LUT at every pixel of `lines`."""
  factor = np.ones((len(lines), samples))
  for block in blocks:
    inside = (lines >= block["first_line"]) & (lines <= block["last_line"])
    values = np.interp(lines, block["lines"], block["lut"])
    columns = slice(block["first_sample"], block["last_sample"] + 1)
    factor[inside, columns] = values[inside, None]
  return factor


def lut_nodes(lines: int, samples: int, line_step: int, pixel_step: int) -> tuple:
  """The lines and pixels at which a LUT is given (every `*_step`, and the last)."""
  node_lines = np.unique(np.r_[np.arange(0, lines, max(line_step, 1)), lines - 1])
  node_pixels = np.unique(np.r_[np.arange(0, samples, pixel_step), samples - 1])
  return node_lines, node_pixels


def bilinear(node_lines, node_pixels, values, lines, pixels) -> np.ndarray:
  """A LUT given at nodes, at every (line, pixel): linear along pixels, then along lines (what
  the product's LUTs mean, and what a reader computes)."""
  along = np.stack([np.interp(pixels, node_pixels, row) for row in values])
  index = np.clip(np.searchsorted(node_lines, lines, side="right") - 1, 0, len(node_lines) - 1)
  upper = np.minimum(index + 1, len(node_lines) - 1)
  span = np.where(upper > index, node_lines[upper] - node_lines[index], 1)
  weight = np.clip((lines - node_lines[index]) / span, 0.0, 1.0)[:, None]
  return along[index] + (along[upper] - along[index]) * weight


def _time(start: dt.datetime, seconds: float) -> str:
  return (start + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _vectors(tag: str, lines: np.ndarray, pixels: np.ndarray, values: dict, start, step) -> str:
  """An XML list of vectors (calibration, noise range), one per line of `lines`."""
  items = []
  for row, line in enumerate(lines):
    fields = "".join(
      f'<{name} count="{len(pixels)}">{" ".join(f"{value:.6e}" for value in array[row])}</{name}>'
      for name, array in values.items()
    )
    items.append(
      f"<{tag}><azimuthTime>{_time(start, line * step)}</azimuthTime><line>{line}</line>"
      f'<pixel count="{len(pixels)}">{" ".join(str(p) for p in pixels)}</pixel>{fields}</{tag}>'
    )
  return f'<{tag}List count="{len(lines)}">{"".join(items)}</{tag}List>'


def _header(mission: str, mode: str, pol: str, start: dt.datetime, stop: dt.datetime) -> str:
  return (
    f"<adsHeader><missionId>{mission}</missionId><productType>GRD</productType>"
    f"<polarisation>{pol}</polarisation><mode>{mode}</mode><swath>{mode}</swath>"
    f"<startTime>{_time(start, 0)}</startTime><stopTime>{_time(stop, 0)}</stopTime>"
    "<absoluteOrbitNumber>12345</absoluteOrbitNumber><missionDataTakeId>123456</missionDataTakeId>"
    "<imageNumber>001</imageNumber></adsHeader>"
  )


def _annotation(header: str, lines: int, samples: int, start, stop, lonlat) -> str:
  grid_lines = np.unique(np.linspace(0, lines - 1, GEOLOCATION_LINES).round().astype(int))
  grid_pixels = np.unique(np.linspace(0, samples - 1, GEOLOCATION_PIXELS).round().astype(int))
  step = (stop - start).total_seconds() / max(lines - 1, 1)
  points = []
  for line in grid_lines:
    lon, lat = lonlat(np.full(len(grid_pixels), line, float), grid_pixels.astype(float))
    for pixel, x, y in zip(grid_pixels, lon, lat, strict=True):
      points.append(
        f"<geolocationGridPoint><azimuthTime>{_time(start, line * step)}</azimuthTime>"
        f"<slantRangeTime>5.4e-03</slantRangeTime><line>{line}</line><pixel>{pixel}</pixel>"
        f"<latitude>{y:.9f}</latitude><longitude>{x:.9f}</longitude><height>0</height>"
        "<incidenceAngle>35.0</incidenceAngle><elevationAngle>31.0</elevationAngle>"
        "</geolocationGridPoint>"
      )
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n<product>'
    f"{header}<qualityInformation/><generalAnnotation><productInformation><pass>Descending</pass>"
    "<timelinessCategory>Fast-24h</timelinessCategory><platformHeading>-167.0</platformHeading>"
    "<projection>Ground Range</projection><rangeSamplingRate>6.4345e+07</rangeSamplingRate>"
    "<radarFrequency>5.405e+09</radarFrequency><azimuthSteeringRate>1.59</azimuthSteeringRate>"
    "</productInformation></generalAnnotation><imageAnnotation><imageInformation>"
    f"<productFirstLineUtcTime>{_time(start, 0)}</productFirstLineUtcTime>"
    f"<productLastLineUtcTime>{_time(stop, 0)}</productLastLineUtcTime>"
    f"<ascendingNodeTime>{_time(start, -1000)}</ascendingNodeTime>"
    "<anchorTime>0</anchorTime><productComposition>Assembled</productComposition>"
    "<sliceNumber>1</sliceNumber><sliceList count=\"0\"/><slantRangeTime>5.4e-03</slantRangeTime>"
    "<pixelValue>Detected</pixelValue><outputPixels>16 bit Unsigned Integer</outputPixels>"
    "<rangePixelSpacing>1.0e+01</rangePixelSpacing><azimuthPixelSpacing>1.0e+01</azimuthPixelSpacing>"
    f"<azimuthTimeInterval>{step:.9e}</azimuthTimeInterval><azimuthFrequency>1.0e+03</azimuthFrequency>"
    f"<numberOfSamples>{samples}</numberOfSamples><numberOfLines>{lines}</numberOfLines>"
    "<zeroDopMinusAcqTime>0</zeroDopMinusAcqTime><incidenceAngleMidSwath>35.0</incidenceAngleMidSwath>"
    "<imageStatistics><outputDataMean><re>0</re><im>0</im></outputDataMean>"
    "<outputDataStdDev><re>0</re><im>0</im></outputDataStdDev></imageStatistics>"
    "</imageInformation><processingInformation><ellipsoidName>WGS84</ellipsoidName>"
    "<ellipsoidSemiMajorAxis>6.378137e+06</ellipsoidSemiMajorAxis>"
    "<ellipsoidSemiMinorAxis>6.356752314245179e+06</ellipsoidSemiMinorAxis>"
    "</processingInformation></imageAnnotation><dopplerCentroid/><antennaPattern/><swathTiming/>"
    f'<geolocationGrid><geolocationGridPointList count="{len(points)}">{"".join(points)}'
    "</geolocationGridPointList></geolocationGrid><coordinateConversion/><swathMerging/></product>"
  )  # fmt: skip


def calibration_nodes(lines: int, samples: int) -> tuple:
  return lut_nodes(lines, samples, lines // 10, CALIBRATION_PIXEL_STEP)


def noise_nodes(lines: int, samples: int) -> tuple:
  return lut_nodes(lines, samples, lines // 8, CALIBRATION_PIXEL_STEP // 2)


def _calibration(header: str, lines: int, samples: int, start, step) -> str:
  cal_lines, cal_pixels = calibration_nodes(lines, samples)
  sigma = sigma_nought(cal_lines.astype(float), cal_pixels.astype(float), samples)
  values = {"sigmaNought": sigma, "betaNought": np.full_like(sigma, 600.0),
            "gamma": sigma * 0.95, "dn": np.full_like(sigma, 600.0)}  # fmt: skip
  vectors = _vectors("calibrationVector", cal_lines, cal_pixels, values, start, step)
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n<calibration>'
    f"{header}<calibrationInformation><absoluteCalibrationConstant>1</absoluteCalibrationConstant>"
    f"</calibrationInformation>{vectors}</calibration>"
  )


def _noise(header: str, lines: int, samples: int, mode: str, start, step) -> str:
  noise_lines, noise_pixels = noise_nodes(lines, samples)
  lut = noise_range(noise_lines.astype(float), noise_pixels.astype(float), samples)
  ranges = _vectors(
    "noiseRangeVector", noise_lines, noise_pixels, {"noiseRangeLut": lut}, start, step
  )
  blocks = []
  for block in azimuth_blocks(lines, samples, mode):
    count = len(block["lines"])
    blocks.append(
      f"<noiseAzimuthVector><swath>{block['swath']}</swath>"
      f"<firstAzimuthLine>{block['first_line']}</firstAzimuthLine>"
      f"<firstRangeSample>{block['first_sample']}</firstRangeSample>"
      f"<lastAzimuthLine>{block['last_line']}</lastAzimuthLine>"
      f"<lastRangeSample>{block['last_sample']}</lastRangeSample>"
      f'<line count="{count}">{" ".join(str(line) for line in block["lines"])}</line>'
      f'<noiseAzimuthLut count="{count}">{" ".join(f"{v:.6e}" for v in block["lut"])}</noiseAzimuthLut>'
      "</noiseAzimuthVector>"
    )
  azimuth = (
    f'<noiseAzimuthVectorList count="{len(blocks)}">{"".join(blocks)}</noiseAzimuthVectorList>'
  )
  return f'<?xml version="1.0" encoding="UTF-8"?>\n<noise>{header}{ranges}{azimuth}</noise>'


def _manifest(name: str, files: dict, start, stop, mission: str, mode: str, footprint: str) -> str:
  """XFDU: one measurement data unit per polarisation, its annotation, calibration and noise as
  metadata objects pointing at data objects."""
  units, metadata, objects = [], [], []
  schemas = {"product": "s1Level1ProductSchema", "calibration": "s1Level1CalibrationSchema",
             "noise": "s1Level1NoiseSchema", "measurement": "s1Level1MeasurementSchema"}  # fmt: skip
  for paths in files.values():
    ids = {kind: f"{kind}{Path(path).stem.replace('-', '')}" for kind, path in paths.items()}
    dmd = " ".join(ids[kind] for kind in ("product", "calibration", "noise"))
    units.append(
      f'<xfdu:contentUnit unitType="Measurement Data Unit" repID="s1Level1MeasurementSchema" '
      f'dmdID="{dmd}"><dataObjectPointer dataObjectID="{ids["measurement"]}"/></xfdu:contentUnit>'
    )
    for kind in ("product", "calibration", "noise"):
      metadata.append(
        f'<metadataObject ID="{ids[kind]}" classification="DESCRIPTION" category="DMD">'
        f'<dataObjectPointer dataObjectID="{ids[kind]}"/></metadataObject>'
      )
    for kind, path in paths.items():
      media = "application/octet-stream" if kind == "measurement" else "text/xml"
      objects.append(
        f'<dataObject ID="{ids[kind]}" repID="{schemas[kind]}"><byteStream mimeType="{media}">'
        f'<fileLocation locatorType="URL" href="./{escape(path)}"/></byteStream></dataObject>'
      )
  number = mission[-1]
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" xmlns:safe="http://www.esa.int/safe/sentinel-1.0" '
    'xmlns:gml="http://www.opengis.net/gml" '
    'xmlns:s1="http://www.esa.int/safe/sentinel-1.0/sentinel-1" '
    'xmlns:s1sarl1="http://www.esa.int/safe/sentinel-1.0/sentinel-1/sar/level-1" version="esa/safe/sentinel-1.0/sentinel-1/sar/level-1/standard/grd">'
    '<informationPackageMap><xfdu:contentUnit unitType="SAFE Archive Information Package" '
    f'textInfo="Sentinel-1 {mode} Level-1 GRD Product" dmdID="acquisitionPeriod platform">'
    f'{"".join(units)}</xfdu:contentUnit></informationPackageMap><metadataSection>'
    '<metadataObject ID="platform" classification="DESCRIPTION" category="DMD"><metadataWrap '
    'mimeType="text/xml" vocabularyName="SAFE" textInfo="Platform Description"><xmlData>'
    f"<safe:platform><safe:nssdcIdentifier>2014-016A</safe:nssdcIdentifier>"
    f"<safe:familyName>SENTINEL-1</safe:familyName><safe:number>{number}</safe:number>"
    '<safe:instrument><safe:familyName abbreviation="SAR">Synthetic Aperture Radar</safe:familyName>'
    f"<safe:extension><s1sarl1:instrumentMode><s1sarl1:mode>{mode}</s1sarl1:mode>"
    f"<s1sarl1:swath>{mode}</s1sarl1:swath></s1sarl1:instrumentMode></safe:extension>"
    "</safe:instrument></safe:platform></xmlData></metadataWrap></metadataObject>"
    '<metadataObject ID="acquisitionPeriod" classification="DESCRIPTION" category="DMD">'
    '<metadataWrap mimeType="text/xml" vocabularyName="SAFE" textInfo="Acquisition Period"><xmlData>'
    f"<safe:acquisitionPeriod><safe:startTime>{_time(start, 0)}</safe:startTime>"
    f"<safe:stopTime>{_time(stop, 0)}</safe:stopTime></safe:acquisitionPeriod></xmlData>"
    "</metadataWrap></metadataObject>"
    '<metadataObject ID="processing" classification="PROVENANCE" category="PDI"><metadataWrap '
    'mimeType="text/xml" vocabularyName="SAFE" textInfo="Processing"><xmlData>'
    '<safe:processing name="GRD post processing"><safe:facility name="flood_jax tests" '
    'country="none" organisation="none" site="none"/></safe:processing></xmlData></metadataWrap>'
    "</metadataObject>"
    '<metadataObject ID="measurementOrbitReference" classification="DESCRIPTION" category="DMD">'
    '<metadataWrap mimeType="text/xml" vocabularyName="SAFE" textInfo="Orbit Reference"><xmlData>'
    '<safe:orbitReference><safe:orbitNumber type="start">12345</safe:orbitNumber>'
    '<safe:relativeOrbitNumber type="start">99</safe:relativeOrbitNumber><safe:extension>'
    "<s1:orbitProperties><s1:pass>DESCENDING</s1:pass></s1:orbitProperties></safe:extension>"
    "</safe:orbitReference></xmlData></metadataWrap></metadataObject>"
    '<metadataObject ID="measurementFrameSet" classification="DESCRIPTION" category="DMD">'
    '<metadataWrap mimeType="text/xml" vocabularyName="SAFE" textInfo="Frame Set"><xmlData>'
    f"<safe:frameSet><safe:frame><safe:footPrint><gml:coordinates>{footprint}</gml:coordinates>"
    "</safe:footPrint></safe:frame></safe:frameSet></xmlData></metadataWrap></metadataObject>"
    f'{"".join(metadata)}</metadataSection>'
    f'<dataObjectSection>{"".join(objects)}</dataObjectSection></xfdu:XFDU>'
  )  # fmt: skip


def product_name(mission: str, mode: str, pols: str, start: dt.datetime, seconds: float) -> str:
  stop = start + dt.timedelta(seconds=seconds)
  stamp = "%Y%m%dT%H%M%S"
  return (f"{mission}_{mode}_GRDH_1S{pols}_{start.strftime(stamp)}_{stop.strftime(stamp)}"
          "_012345_0ABCDE_1A2B")  # fmt: skip


def write_grd(
  folder: Path,
  shape: tuple[int, int],
  rows_of: Callable[[int, int], tuple[np.ndarray, np.ndarray]],
  lonlat: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
  start: dt.datetime = dt.datetime(2024, 3, 12, 5, 22, 15),
  mission: str = "S1A",
  mode: str = "IW",
  pols: str = "DV",
  zipped: bool = False,
  strip: int = 256,
) -> Path:
  """A GRD product of `shape` (lines, samples) in `folder`: its .SAFE folder, or (`zipped`) the
  .zip of it. `rows_of(line0, count)` gives sigma0 (linear power, NaN no data) of VV and VH for
  those lines; `lonlat(lines, pixels)` the ground position of pixels."""
  import rasterio

  lines, samples = shape
  seconds = max(lines * 10 / 6800, 1.0)  # ~6.8 km/s ground speed, 10 m lines
  name = product_name(mission, mode, pols, start, seconds)
  stop = start + dt.timedelta(seconds=seconds)
  step = seconds / max(lines - 1, 1)
  safe = folder / f"{name}.SAFE"
  for sub in ("annotation/calibration", "measurement"):
    (safe / sub).mkdir(parents=True, exist_ok=True)
  polarisations = {"DV": ["VV", "VH"], "SV": ["VV"], "DH": ["HH", "HV"], "SH": ["HH"]}[pols]
  blocks = azimuth_blocks(lines, samples, mode)
  files, datasets = {}, []
  stamp = f"{start.strftime('%Y%m%dt%H%M%S')}-{stop.strftime('%Y%m%dt%H%M%S')}-012345-0abcde"
  for index, pol in enumerate(polarisations):
    base = f"{mission.lower()}-{mode.lower()}-grd-{pol.lower()}-{stamp}-{index + 1:03d}"
    paths = {
      "product": f"annotation/{base}.xml",
      "calibration": f"annotation/calibration/calibration-{base}.xml",
      "noise": f"annotation/calibration/noise-{base}.xml",
      "measurement": f"measurement/{base}.tiff",
    }
    files[pol] = paths
    header = _header(mission, mode, pol, start, stop)
    (safe / paths["product"]).write_text(_annotation(header, lines, samples, start, stop, lonlat))
    (safe / paths["calibration"]).write_text(_calibration(header, lines, samples, start, step))
    (safe / paths["noise"]).write_text(_noise(header, lines, samples, mode, start, step))
    with warnings.catch_warnings():  # a measurement has no georeferencing: the annotation has it
      warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
      datasets.append(rasterio.open(safe / paths["measurement"], "w", driver="GTiff",
                                    height=lines, width=samples, count=1, dtype="uint16"))  # fmt: skip
  pixels = np.arange(samples, dtype=float)
  cal_lines, cal_pixels = calibration_nodes(lines, samples)
  cal_values = sigma_nought(cal_lines.astype(float), cal_pixels.astype(float), samples)
  noise_lines, noise_pixels = noise_nodes(lines, samples)
  noise_values = noise_range(noise_lines.astype(float), noise_pixels.astype(float), samples)
  try:
    for line0 in range(0, lines, strip):
      count = min(strip, lines - line0)
      line_index = np.arange(line0, line0 + count, dtype=float)
      gain = bilinear(cal_lines, cal_pixels, cal_values, line_index, pixels) ** 2
      noise = bilinear(noise_lines, noise_pixels, noise_values, line_index, pixels)
      noise *= azimuth_factor(blocks, line_index, samples)
      for dataset, sigma0 in zip(datasets, rows_of(line0, count), strict=False):
        power = sigma0 * gain + noise
        dn = np.where(np.isfinite(power), np.sqrt(np.maximum(power, 0)).round(), 0)
        window = rasterio.windows.Window(0, line0, samples, count)
        dataset.write(np.clip(dn, 0, 65535).astype(np.uint16)[None], window=window)
  finally:
    for dataset in datasets:
      dataset.close()
  corners = lonlat(
    np.array([0.0, 0, lines - 1, lines - 1]), np.array([0.0, samples - 1, samples - 1, 0])
  )
  footprint = " ".join(f"{lat:.6f},{lon:.6f}" for lon, lat in zip(*corners, strict=True))
  (safe / "manifest.safe").write_text(_manifest(name, files, start, stop, mission, mode, footprint))
  if not zipped:
    return safe
  archive = folder / f"{name}.zip"
  with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as output:
    for path in sorted(safe.rglob("*")):
      if path.is_file():
        output.write(path, path.relative_to(folder))
  shutil.rmtree(safe)
  return archive
