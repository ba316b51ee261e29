"""Sen1Floods11 data: reading chips, the catalog, tiles, statistics, synthetic data, pipelines."""

from flood_jax.dataset.records import Chip
from flood_jax.dataset.sen1floods11 import read_chip
from flood_jax.scenes.bands import engineered_bands

__all__ = ["Chip", "engineered_bands", "read_chip"]
