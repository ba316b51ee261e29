"""The pre-event scene of a change-detection map (`flood_jax.mapping.change`), band by band.

The pre-event scene may come in any form `--input` takes and on any grid: where its grid is not
the post-event one, it is warped onto it window by window (`scene.WarpedReader`, power
averaged). The model maps it through the same blended windows as the post-event scene, so its
bands of rows arrive in step with the post-event ones; the drop of backscatter is computed in
blocks of columns with one pixel of context, so memory stays a band whatever the scene's size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from absl import logging

from flood_jax.core.windows import column_blocks
from flood_jax.errors import DataError, UsageError
from flood_jax.mapping.change import backscatter_drop
from flood_jax.mapping.classes import WATER
from flood_jax.scenes.acquired import parse_time
from flood_jax.scenes.area import AreaReader, scene_rows
from flood_jax.scenes.geotiff import georeference_mismatch
from flood_jax.scenes.readers import open_scene
from flood_jax.scenes.scene import Grid, SceneReader, WarpedReader, overlap_fraction
from flood_jax.scenes.sources import SceneInput


def check_pair(scene: SceneInput, before: SceneInput, max_days: float) -> None:
  """UsageError where the pre-event scene is the post-event one (a file of both), or was
  acquired at or after it (swapped?); a warning where it is more than `max_days` older (the
  land may have changed since). Times are compared where both scenes say them."""
  shared = sorted(set(map(_local, scene.files)) & set(map(_local, before.files)))
  if shared:
    raise UsageError(f"{shared[0]}: is the post-event scene and the pre-event scene; give another")
  if scene.acquired is None or before.acquired is None:
    return
  after_time, before_time = parse_time(scene.acquired), parse_time(before.acquired)
  if before_time >= after_time:
    raise UsageError(
      f"{before.name}: the pre-event scene was acquired {before.acquired}, not before the "
      f"post-event scene {scene.name} ({scene.acquired}); are they swapped?"
    )
  days = (after_time - before_time).total_seconds() / 86400
  if days > max_days:
    logging.warning(
      "%s: the pre-event scene is %.0f days older than %s (over %g): land that changed since "
      "may be mapped as flood",
      before.name, days, scene.name, max_days,
    )  # fmt: skip


def _local(path: str) -> str:
  return str(Path(path).resolve()) if not path.startswith("/vsi") else path


def on_grid_of(reader: SceneReader, post_reader):
  """The pre-event scene's reader on the post-event reader's grid (warped where the two differ),
  cut to the same area where the post-event reader is (`scenes.area.AreaReader`)."""
  if isinstance(post_reader, AreaReader):
    return AreaReader(on_grid_of(reader, post_reader.reader), post_reader.cut)
  grid = post_reader.grid
  return WarpedReader(reader, grid) if georeference_mismatch(reader.grid, grid) else reader


class PreEvent:
  """The pre-event scene on the post-event `grid`: `change(top, rows)` gives, for each band of
  the post-event map, (bool water before, float32 drop of backscatter in dB)."""

  def __init__(
    self,
    scene: SceneInput,
    post_scene: str,
    grid: Grid,
    post_reader,
    model,
    tiling,
    on_batch=None,
    dem: str | None = None,
  ):
    reader = open_scene(scene, dem if scene.is_grd else None)  # a raster is geocoded already
    overlap = overlap_fraction(reader.grid, grid)
    if overlap <= 0:
      reader.close()
      raise DataError(
        f"{scene.name}: the pre-event scene does not overlap the post-event scene {post_scene}"
      )
    if overlap < 0.999:
      logging.warning(
        "%s: the pre-event scene covers %.1f%% of %s; elsewhere the map is single-scene",
        scene.name,
        100 * overlap,
        post_scene,
      )
    self.reader = on_grid_of(reader, post_reader)
    self.scene, self.grid, self.post_reader, self.model = scene, grid, post_reader, model
    self.bands = scene_rows(model, self.reader, tiling, on_batch)

  def change(self, top: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    band_top, probability, valid = next(self.bands)
    if (band_top, len(probability)) != (top, rows):  # both stream the same windows in step
      raise RuntimeError(f"pre-event band {band_top} out of step with post-event band {top}")
    water_before = np.empty((rows, self.grid.width), bool)
    drop = np.empty((rows, self.grid.width), np.float32)
    for cols in column_blocks(self.grid.width):
      # A pixel of context on each side for the 3 x 3 mean.
      window = (top - 1, rows + 2, cols.start - 1, cols.stop - cols.start + 2)
      before, after = self.reader.read_window(*window), self.post_reader.read_window(*window)
      drop[:, cols] = backscatter_drop(before, after)[1:-1, 1:-1]
      classes = self.model.rule.classes(probability[:, cols], valid[:, cols], before[1:-1, 1:-1])
      water_before[:, cols] = classes == WATER
    return water_before, drop

  def close(self) -> None:
    self.bands.close()
    self.reader.close()
