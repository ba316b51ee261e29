"""The reader of a scene, chosen once by what the scene is."""

from __future__ import annotations

from flood_jax.scenes.grd_reader import GrdReader
from flood_jax.scenes.scene import SceneReader
from flood_jax.scenes.sources import SceneInput


def open_scene(scene: SceneInput) -> SceneReader | GrdReader:
  """A Sentinel-1 GRD product's reader (`grd_reader.GrdReader`: calibrated and geocoded here) or a
  raster's (`scene.SceneReader`); both give VV and VH in dB window by window on their `grid`."""
  return GrdReader(scene) if scene.product else SceneReader(scene)
