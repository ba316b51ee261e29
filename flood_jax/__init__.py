"""flood_jax: flood mapping from Sentinel-1 SAR with an attention ResUNet in JAX/Flax.

The Python API (`flood_jax.api`): `load_model`, `FloodModel.map`, `map_scene`, `map_scenes`
(with `MapOptions`, returning `SceneSummary`s);
`map_course` (a flood's course over several maps, `flood_jax.products.flood_course`);
`search` (the scenes of an area and dates in a STAC API, `flood_jax.scenes.search`);
`flood_jax.xarray.map_floods` for xarray and Dask. Names are imported on first use, so
`import flood_jax` costs nothing and the ONNX Runtime path never imports jax.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_API = {
  "load_model": "flood_jax.api",
  "map_scene": "flood_jax.api",
  "map_scenes": "flood_jax.api",
  "map_course": "flood_jax.products.flood_course",
  "search": "flood_jax.scenes.search",
  "FloodModel": "flood_jax.api",
  "FloodMap": "flood_jax.api",
  "MapOptions": "flood_jax.products.scene_map",
  "SceneSummary": "flood_jax.products.summary",
  "FloodJaxError": "flood_jax.errors",
  "DataError": "flood_jax.errors",
  "ConfigError": "flood_jax.errors",
  "UsageError": "flood_jax.errors",
}

__all__ = sorted(_API)


def __getattr__(name: str):
  if name in _API:
    return getattr(importlib.import_module(_API[name]), name)
  raise AttributeError(f"module 'flood_jax' has no attribute {name!r}")
