"""The reader of a scene, chosen once by what the scene is."""

from __future__ import annotations

from flood_jax.errors import UsageError
from flood_jax.scenes.grd_reader import GrdReader
from flood_jax.scenes.scene import SceneReader
from flood_jax.scenes.sources import SceneInput


def open_scene(scene: SceneInput, dem: str | None = None) -> SceneReader | GrdReader:
  """A Sentinel-1 GRD product's reader (`grd_reader.GrdReader`: calibrated and geocoded here,
  terrain-corrected with a `dem`) or a raster's (`scene.SceneReader`); both give VV and VH in dB
  window by window on their `grid`."""
  if scene.is_grd:
    return GrdReader(scene, dem)
  if dem:
    raise UsageError(
      f"--dem={dem}: terrain correction is for GRD products; {scene.name} is geocoded already"
    )
  return SceneReader(scene)
