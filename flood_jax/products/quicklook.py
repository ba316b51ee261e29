"""A picture of a flood map a person reads without a GIS: the scene's VV in grey, the water
classes over it in the map's colours, a legend of the classes present, a scale bar, a north
arrow, the acquisition date, the inputs and the flooded area.

The map is read decimated to the picture's size (GDAL uses its overviews); the scene's VV is
averaged into the picture's cells strip by strip, over the pixels the map saw, so memory does not
grow with the scene.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling

from flood_jax.mapping.classes import COLOURS, DRY, NODATA, ClassScheme
from flood_jax.scenes.scene import Grid
from flood_jax.scenes.sources import SceneInput

WIDTH_PX, DPI = 1200, 100
STRIP_ROWS = 256  # scene rows read at a time for the picture's radar image


def _decimated(path: str, band: int, shape: tuple[int, int], resampling):
  """(band `band` of `path` read at `shape`, the file's nodata value)."""
  with rasterio.open(path) as dataset:
    return dataset.read(band, out_shape=shape, resampling=resampling), dataset.nodata


def picture_shape(grid: Grid, width: int = WIDTH_PX) -> tuple[int, int]:
  """(rows, cols) of the picture: at most `width` columns and `width` rows, never more pixels
  than the map (a 200 x 8,000 strip was upsampled six times into a 1,200 x 48,120 picture)."""
  scale = min(1.0, width / grid.width, width / grid.height)
  return max(round(grid.height * scale), 1), max(round(grid.width * scale), 1)


def backscatter_picture(reader, shape: tuple[int, int]) -> np.ndarray:
  """VV in dB at the picture's size: each cell the mean of its valid pixels, NaN where it has
  none. Read through the map's reader (`scene_map.open_reader`: its grid is the map's, an area of
  interest's window or a resampled grid included) in strips of about STRIP_ROWS rows, so the
  picture leaves out what the map leaves out (fill values, zero borders, layover and shadow) and
  memory stays flat."""
  height, width = reader.grid.height, reader.grid.width
  row_edges = np.arange(shape[0] + 1) * height // shape[0]  # strictly rising: shape <= grid
  col_starts = np.arange(shape[1]) * width // shape[1]
  per_strip = max(1, round(STRIP_ROWS * shape[0] / height))
  picture = np.empty(shape, np.float32)
  for first in range(0, shape[0], per_strip):
    last = min(first + per_strip, shape[0])
    top = row_edges[first]
    vv = reader.read_window(top, row_edges[last] - top)[..., 0]
    valid = np.isfinite(vv)
    starts = row_edges[first:last] - top
    sums = np.add.reduceat(np.add.reduceat(np.where(valid, vv, 0.0), starts, 0), col_starts, 1)
    counts = np.add.reduceat(np.add.reduceat(valid.astype(np.int64), starts, 0), col_starts, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
      picture[first:last] = np.where(counts > 0, sums / counts, np.nan)
  return picture


def _scale_bar_m(ground_width_m: float) -> float:
  """A round length (1, 2 or 5 x 10^k m) near a fifth of the map's ground width."""
  target = ground_width_m / 5
  power = 10 ** math.floor(math.log10(target))
  return max(step * power for step in (1, 2, 5) if step * power <= target)


# Dry land: the radar image under a light tint of the dry colour, never the white of the page,
# even where a scene of nearly all water stretches the image's bright land to white.
DRY_TINT = 0.35


def _overlay(classes: np.ndarray) -> np.ndarray:
  """RGBA of the classes: water classes and exclusions opaque-ish, dry tinted, no data clear."""
  rgba = np.zeros((*classes.shape, 4), np.float32)
  for value, colour in COLOURS.items():
    if value == NODATA:
      continue
    alpha = DRY_TINT if value == DRY else 0.8
    rgba[classes == value] = (*(channel / 255 for channel in colour[:3]), alpha)
  return rgba


def write_quicklook(
  target, map_path: Path, scene: SceneInput, reader, grid: Grid, scheme: ClassScheme, summary: dict
) -> None:
  """The PNG into `target`: a path (any name: the caller writes it under its partial name) or
  a binary file; the radar image read through the map's `reader`."""
  from matplotlib.patches import Patch

  from flood_jax.core.figures import plt  # on first use: mapping without pictures skips matplotlib

  shape = picture_shape(grid)
  classes, _ = _decimated(str(map_path), 1, shape, Resampling.nearest)
  vv = backscatter_picture(reader, shape)
  side = WIDTH_PX / DPI  # the page: as wide as the picture may be, as tall as it is (bounded)
  figure, axes = plt.subplots(figsize=(side, side * min(shape[0] / shape[1], 1.0) + 1.2))
  finite = vv[np.isfinite(vv)]
  low, high = np.percentile(finite, (2, 98)) if finite.size else (-25.0, 0.0)
  axes.imshow(np.ma.masked_invalid(vv), cmap="gray", vmin=low, vmax=high, interpolation="nearest")
  axes.imshow(_overlay(classes), interpolation="nearest")
  present = [int(value) for value in np.unique(classes) if int(value) in scheme.names]
  handles = [_legend_patch(Patch, value, scheme) for value in present if value != NODATA]
  axes.legend(handles=handles, loc="lower left", framealpha=0.9, fontsize=10)
  _scale_bar(axes, grid, shape)
  axes.annotate("N", xy=(0.96, 0.95), xytext=(0.96, 0.83), xycoords="axes fraction",
                ha="center", fontsize=14, weight="bold", color="white", path_effects=OUTLINE(),
                arrowprops={"arrowstyle": "-|>", "color": "white", "lw": 2})  # fmt: skip
  axes.set_axis_off()
  axes.set_title(_title(scene, summary), fontsize=11, loc="left")
  figure.tight_layout()
  figure.savefig(target, dpi=DPI, format="png")
  plt.close(figure)


def _scale_bar(axes, grid: Grid, shape: tuple[int, int]) -> None:
  """A bar of a round ground length, geodesic at the picture's centre (true in any CRS)."""
  metres_per_column = grid.centre_ground_metres_per_column() * grid.width / shape[1]
  length_m = _scale_bar_m(metres_per_column * shape[1])
  pixels = length_m / metres_per_column
  rows, cols = shape
  x, y = cols * 0.95 - pixels, rows * 0.95
  axes.plot([x, x + pixels], [y, y], color="white", lw=4, solid_capstyle="butt",
            path_effects=OUTLINE())  # fmt: skip
  label = f"{length_m / 1000:g} km" if length_m >= 1000 else f"{length_m:g} m"
  axes.text(x + pixels / 2, y - rows * 0.02, label, color="white", ha="center", fontsize=11,
            weight="bold", path_effects=OUTLINE())  # fmt: skip


def OUTLINE() -> list:  # noqa: N802  (a constant made on demand: matplotlib imports late)
  """A black outline that keeps white marks readable over bright land."""
  from matplotlib import patheffects

  return [patheffects.withStroke(linewidth=3, foreground="black")]


def _legend_patch(patch, value: int, scheme: ClassScheme):
  """A legend entry; dry is drawn as the radar image it leaves visible."""
  colour = np.asarray(COLOURS[value][:3]) / 255
  if value == DRY:
    return patch(
      facecolor=colour, edgecolor="black", label=f"{scheme.names[DRY]} (over the radar image, VV)"
    )
  return patch(facecolor=colour, edgecolor="black", label=scheme.names[value])


def _title(scene: SceneInput, summary: dict) -> str:
  water = "flood" if "flood_km2" in summary else "water"
  area = summary.get(f"{water}_km2", 0.0)
  share = summary.get(f"{water}_fraction", float("nan"))
  water = "flood water" if water == "flood" else "water"
  acquired = summary.get("acquired", "unknown")
  from flood_jax.core.figures import drawable

  inputs = ", ".join(Path(path).name for path in scene.files)
  title = f"{water} {area:.2f} km² ({share:.1%} of valid pixels) - acquired {acquired}\n{inputs}"
  return drawable(title)


def count_picture(count_path: Path, grid: Grid, acquisitions: int, width: int = 900) -> bytes:
  """PNG of a flood's course: in how many acquisitions each pixel was flood water (light grey:
  none; clear: never seen), with a colour bar and a scale bar."""
  import io

  from matplotlib.colors import ListedColormap

  from flood_jax.core.figures import plt

  shape = picture_shape(grid, width)
  count, nodata = _decimated(str(count_path), 1, shape, Resampling.nearest)
  shown = np.ma.masked_where(count == nodata, count)
  blues = plt.get_cmap("Blues")(np.linspace(0.35, 1.0, acquisitions))
  colours = ListedColormap([(0.85, 0.85, 0.85, 1.0), *blues])
  figure, axes = plt.subplots(figsize=(width / DPI, width / DPI * shape[0] / shape[1]))
  image = axes.imshow(shown, cmap=colours, vmin=-0.5, vmax=acquisitions + 0.5,
                      interpolation="nearest")  # fmt: skip
  bar = figure.colorbar(image, ax=axes, ticks=range(acquisitions + 1), shrink=0.8)
  bar.set_label("acquisitions in flood water")
  _scale_bar(axes, grid, shape)
  axes.set_axis_off()
  figure.tight_layout()
  buffer = io.BytesIO()
  figure.savefig(buffer, dpi=DPI, format="png")
  plt.close(figure)
  return buffer.getvalue()
