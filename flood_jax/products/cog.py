"""The map files flood responders expect, written as ASF's and OPERA's water maps are.

- `MapWriter`: a Cloud Optimized GeoTIFF written strip by strip: the flood map (uint8, 0 dry,
  1 water or flood water, 2 permanent water, 255 no data, with an embedded colour table) or the
  water probability (uint8 0-100 with 255 no data, or float32 with NaN). DEFLATE with
  predictor, 512-px blocks, internal overviews (NEAREST for classes), BigTIFF when it may pass
  4 GB. Written under a partial name and renamed when complete.
- `class_table_xml`, `qgis_style`: the class names GDAL and QGIS read beside the map.
- `check_outputs`: never replace an input, nor an existing file without --overwrite.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.windows import Window

from flood_jax.core.files import clear_partial, partial_path, probe_writable
from flood_jax.errors import UsageError
from flood_jax.mapping.classes import COLOURS, NODATA
from flood_jax.scenes.scene import Grid

KINDS = {  # dtype, nodata, overview resampling, unit of the band
  "classes": ("uint8", NODATA, "NEAREST", ""),
  "probability": ("uint8", NODATA, "AVERAGE", "%"),
  "probability_float32": ("float32", float("nan"), "AVERAGE", "1"),
  "count": ("uint16", 65535, "NEAREST", "acquisitions"),  # a flood's course
  "days": ("float32", float("nan"), "NEAREST", "days"),
}


def partial_paths(path: Path) -> tuple[Path, Path]:
  """The temporary files a map is written through, its strips and its COG (cleared by the next
  run if left over)."""
  return partial_path(path.with_name(f"{path.stem}.strips{path.suffix}")), partial_path(path)


class MapWriter:
  """Strips into a tiled GeoTIFF under a partial name; `finish()` makes it a COG at `path`."""

  def __init__(
    self,
    path: Path,
    grid: Grid,
    kind: str,
    tags: dict | None = None,
    description: str = "",
    class_names: dict[int, str] | None = None,
  ):
    self.path, self.kind, self.class_names = Path(path), kind, class_names
    self.partial = partial_paths(self.path)[0]
    dtype, nodata, self.overviews, unit = KINDS[kind]
    self._dataset = rasterio.open(
      self.partial,
      "w",
      driver="GTiff",
      height=grid.height,
      width=grid.width,
      count=1,
      dtype=dtype,
      crs=grid.crs,
      transform=grid.transform,
      nodata=nodata,
      tiled=True,
      blockxsize=512,
      blockysize=512,
      compress="deflate",
      BIGTIFF="IF_SAFER",
    )
    if kind == "classes":
      self._dataset.write_colormap(1, COLOURS)
    self._dataset.set_band_description(1, description)
    self._dataset.set_band_unit(1, unit)
    self._dataset.update_tags(**(tags or {}))

  def write_rows(self, top: int, rows: np.ndarray, left: int = 0) -> None:
    """`rows` [rows, cols] at row `top` and column `left`."""
    self._dataset.write(rows[None], window=Window(left, top, rows.shape[1], rows.shape[0]))

  def finish(self) -> Path:
    """The COG, written under its partial name (`core.files.commit` puts it in place, with the
    scene's other files); returns that name."""
    self._dataset.close()
    predictor = 3 if KINDS[self.kind][0] == "float32" else 2
    cog = partial_path(self.path)
    rasterio.shutil.copy(
      self.partial,
      cog,
      driver="COG",
      COMPRESS="DEFLATE",
      PREDICTOR=predictor,
      BLOCKSIZE=512,
      OVERVIEW_RESAMPLING=self.overviews,
      BIGTIFF="IF_SAFER",
    )
    self.partial.unlink()
    if self.class_names:
      aux = self.path.with_name(f"{self.path.name}.aux.xml")
      partial_path(aux).write_text(class_table_xml(self.class_names))
      partial_path(self.path.with_suffix(".qml")).write_text(qgis_style(self.class_names))
    return cog

  def abort(self) -> None:
    self._dataset.close()
    for leftover in partial_paths(self.path):
      leftover.unlink(missing_ok=True)
    clear_partial(self.path)


def class_table_xml(names: dict[int, str]) -> str:
  """GDAL's PAM sidecar (<map>.aux.xml) naming the classes: category names (value = index) and
  a thematic raster attribute table, which QGIS and GDAL show instead of palette indices."""
  from xml.etree import ElementTree

  dataset = ElementTree.Element("PAMDataset")
  band = ElementTree.SubElement(dataset, "PAMRasterBand", band="1")
  categories = ElementTree.SubElement(band, "CategoryNames")
  for value in range(max(names) + 1):
    ElementTree.SubElement(categories, "Category").text = names.get(value, "")
  table = ElementTree.SubElement(band, "GDALRasterAttributeTable", tableType="thematic")
  for index, (name, kind, usage) in enumerate((("value", "0", "5"), ("class", "2", "2"))):
    field = ElementTree.SubElement(table, "FieldDefn", index=str(index))
    for tag, text in (("Name", name), ("Type", kind), ("Usage", usage)):
      ElementTree.SubElement(field, tag).text = text
  for index, (value, name) in enumerate(sorted(names.items())):
    row = ElementTree.SubElement(table, "Row", index=str(index))
    ElementTree.SubElement(row, "F").text = str(value)
    ElementTree.SubElement(row, "F").text = name
  return ElementTree.tostring(dataset, encoding="unicode")


def qgis_style(names: dict[int, str]) -> str:
  """A QGIS layer style (<map>.qml, which QGIS loads with the map): a paletted renderer with
  only the map's classes, in its colours and with its names, so the GeoTIFF palette's unused
  entries (a TIFF palette has 256 and no alpha) are never drawn nor listed; no data clear."""
  from xml.etree import ElementTree

  qgis = ElementTree.Element("qgis", version="3.28", styleCategories="Symbology")
  pipe = ElementTree.SubElement(qgis, "pipe")
  renderer = ElementTree.SubElement(pipe, "rasterrenderer", type="paletted", band="1",
                                    opacity="1", alphaBand="-1", nodataColor="")  # fmt: skip
  ElementTree.SubElement(renderer, "rasterTransparency")
  palette = ElementTree.SubElement(renderer, "colorPalette")
  for value, name in sorted(names.items()):
    if value == NODATA:
      continue
    red, green, blue, alpha = COLOURS[value]
    ElementTree.SubElement(palette, "paletteEntry", value=str(value), label=name,
                           color=f"#{red:02x}{green:02x}{blue:02x}", alpha=str(alpha))  # fmt: skip
  ElementTree.SubElement(pipe, "rasterresampler", maxOversampling="2")
  ElementTree.SubElement(qgis, "blendMode").text = "0"
  doctype = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"  # QGIS checks its name
  return doctype + ElementTree.tostring(qgis, encoding="unicode")


def probability_values(probability: np.ndarray, valid: np.ndarray, kind: str) -> np.ndarray:
  """A probability band for `MapWriter`: uint8 percent (255 no data) or float32 (NaN)."""
  if kind == "probability_float32":
    return np.where(valid, probability, np.nan).astype(np.float32)
  return np.where(valid, np.round(probability * 100), NODATA).astype(np.uint8)


def local_path(path: str | Path) -> Path:
  """The local file behind a GDAL path (a /vsizip/ member: its zip), resolved."""
  text = str(path)
  if text.startswith("/vsizip/"):  # the zip itself is the input file
    text = text[len("/vsizip/") :].split(".zip", 1)[0] + ".zip"
  return Path(text).resolve() if not text.startswith("/vsi") else Path(text)


def check_outputs(outputs: list[Path], inputs: tuple[str, ...], overwrite: bool) -> None:
  """Refuses outputs that would replace an input (or be one), overwrite a file without
  --overwrite, or land in a folder that does not exist or cannot be written."""
  protected = {local_path(path) for path in inputs}
  for output in outputs:
    output = Path(output)
    target = output.resolve()
    if target in protected or any(target == p or p in target.parents for p in protected):
      raise UsageError(f"{output}: is an input of this run; choose another output path")
    if not output.parent.is_dir():
      raise UsageError(f"{output}: output folder {output.parent} does not exist; create it first")
    if output.is_dir():
      raise UsageError(f"{output}: is a folder; give the path of a file to write")
    if output.exists() and not overwrite:
      raise UsageError(f"{output}: already exists; pass --overwrite to replace it")
    try:
      probe_writable(output.parent)
    except OSError as error:
      raise UsageError(f"{output}: output folder is not writable ({error.strerror})") from None
    for leftover in partial_paths(output):  # a killed run's, never a finished file
      leftover.unlink(missing_ok=True)
    clear_partial(output)
