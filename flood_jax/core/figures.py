"""What every figure shares: matplotlib without a display (`plt`), figures saved atomically (a
killed run never leaves half a PNG in place), a CSV column as numbers, and chips drawn as
pictures (a SAR composite, a mask)."""

from __future__ import annotations

import functools
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from flood_jax.core.files import atomic_path  # noqa: E402

__all__ = ["column", "drawable", "mask_image", "plt", "sar_composite", "save_figure"]

# File names may be in any script: DejaVu Sans first, then a CJK font where one is installed
# (Debian's fonts-wqy-microhei; .ci/run installs it), glyph by glyph (matplotlib's fallback).
FALLBACK_FONTS = ("WenQuanYi Micro Hei", "Noto Sans CJK JP", "Droid Sans Fallback")


def _font_files() -> list[str]:
  from matplotlib import font_manager

  found = {entry.name: entry.fname for entry in font_manager.fontManager.ttflist}
  return [found[name] for name in ("DejaVu Sans", *FALLBACK_FONTS) if name in found]


def _set_fonts() -> None:
  import logging

  from matplotlib import font_manager

  # A CJK fallback has no bold face: matplotlib logs each time it draws bold with the regular.
  logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)

  installed = {entry.name for entry in font_manager.fontManager.ttflist}
  families = ["DejaVu Sans", *(name for name in FALLBACK_FONTS if name in installed)]
  matplotlib.rcParams["font.family"] = families


_set_fonts()


def drawable(text: str) -> str:
  """`text` with each character no installed font draws written as its code (\\u6d2a), so a
  name in any script is drawn exactly, never as boxes (nor a warning of missing glyphs)."""
  covered = _covered()
  return "".join(char if char.isascii() or ord(char) in covered else _code(char) for char in text)


def _code(char: str) -> str:
  return f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}"


@functools.cache
def _covered() -> frozenset:
  """The characters the fonts in use draw."""
  from matplotlib.ft2font import FT2Font

  return frozenset(code for path in _font_files() for code in FT2Font(path).get_charmap())


def save_figure(figure, output: str | Path | io.IOBase, dpi: int = 100, **options) -> None:
  """Saves `figure` as a PNG into `output` (a path, written through a partial file renamed when
  complete; or an open binary file) and closes it."""
  try:
    if isinstance(output, (str, Path)):
      with atomic_path(output) as partial:
        figure.savefig(partial, dpi=dpi, format="png", **options)
    else:
      figure.savefig(output, dpi=dpi, format="png", **options)
  finally:
    plt.close(figure)


def column(rows: list[dict], name: str) -> np.ndarray:
  return np.array(
    [float(row[name]) if row.get(name) not in (None, "", "nan") else np.nan for row in rows]
  )


def sar_composite(vv_vh_db: np.ndarray) -> np.ndarray:
  """[H, W, 3] in [0, 1]: R = VV, G = VH, B = VV - VH, each stretched over typical dB ranges."""
  vv, vh = vv_vh_db[..., 0], vv_vh_db[..., 1]
  red = (vv + 25) / 25
  green = (vh + 32) / 25
  blue = (vv - vh) / 15
  composite = np.stack([red, green, blue], -1)
  return np.clip(np.nan_to_num(composite, nan=0.0), 0, 1)


def mask_image(mask: np.ndarray, validity: np.ndarray | None = None) -> np.ndarray:
  """[H, W, 3]: water blue, dry light grey, invalid red."""
  image = np.where(mask[..., None] > 0, [0.1, 0.3, 0.9], [0.85, 0.85, 0.85])
  if validity is not None:
    image = np.where(validity[..., None], image, [0.85, 0.1, 0.1])
  return image
