"""How much synthetic chips look like real Sentinel-1: per-class statistics and histograms
(`python -m experiments.realism` compares two roots).

Compares VV, VH and the engineered bands of water and dry pixels (valid pixels only) in both
roots and prints the per-class medians. `REAL_MEDIAN_RANGES` records the range of per-chip
medians measured on the seven real chips (2026-11-24); the generator is tested against it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from flood_jax.dataset.catalog import build_catalog, read_record

# Range over the real chips of each chip's median backscatter (dB) per class; chips with fewer
# than 1,000 pixels of a class are left out. Water: India, Mekong, Pakistan; dry: five chips.
REAL_MEDIAN_RANGES = {
  ("water", "vv"): (-18.4, -10.0),
  ("water", "vh"): (-25.8, -18.9),
  ("dry", "vv"): (-9.8, -8.1),
  ("dry", "vh"): (-16.6, -14.1),
}
MIN_PIXELS = 1000


def class_pixels(root: str | Path, max_chips: int | None = None) -> dict[str, list[np.ndarray]]:
  """Per chip, the [N, 2] VV/VH values of valid water and dry pixels of the hand-labelled chips."""
  records = [record for record in build_catalog(root) if record.source == "hand"][:max_chips]
  pixels = {"water": [], "dry": []}
  for record in records:
    chip = read_record(record)
    for name, value in (("water", 1), ("dry", 0)):
      selected = chip.vv_vh_db[chip.validity & (chip.label == value)]
      if len(selected) >= MIN_PIXELS:
        pixels[name].append(selected)
  return pixels


def median_ranges(
  pixels: dict[str, list[np.ndarray]],
) -> dict[tuple[str, str], tuple[float, float]]:
  """(class, band) -> (min, max) of per-chip medians."""
  ranges = {}
  for name, chips in pixels.items():
    medians = np.array([np.median(chip, axis=0) for chip in chips])
    for index, band in enumerate(("vv", "vh")):
      ranges[(name, band)] = (float(medians[:, index].min()), float(medians[:, index].max()))
  return ranges


def overall_medians(pixels: dict[str, list[np.ndarray]]) -> dict[tuple[str, str], float]:
  return {
    (name, band): float(np.median(np.concatenate(chips)[:, index]))
    for name, chips in pixels.items()
    for index, band in enumerate(("vv", "vh"))
  }


def plot_histograms(real: dict, synthetic: dict, output: str | Path) -> None:
  from flood_jax.core.figures import plt, save_figure
  from flood_jax.scenes.bands import engineered_bands

  figure, axes = plt.subplots(1, 4, figsize=(17, 3.6))
  for source, pixels, style in (("real", real, "-"), ("synthetic", synthetic, "--")):
    for name, colour in (("water", "tab:blue"), ("dry", "tab:brown")):
      values = np.concatenate(pixels[name])
      bands = engineered_bands(values[:, 0], values[:, 1])
      series = [
        (values[:, 0], "VV (dB)", (-35, 5)),
        (values[:, 1], "VH (dB)", (-45, -5)),
        (bands[:, 1], "band 2: (VH-VV)/(VH+VV)", (-0.2, 0.8)),
        (bands[:, 2], "band 3: sqrt((VV²+VH²)/2)", (5, 40)),
      ]
      for axis, (data, title, limits) in zip(axes, series, strict=True):
        axis.hist(
          data,
          bins=120,
          range=limits,
          density=True,
          histtype="step",
          linestyle=style,
          color=colour,
          label=f"{source} {name}",
        )
        axis.set_title(title)
  axes[0].legend(fontsize=8)
  figure.tight_layout()
  save_figure(figure, output, dpi=90)
