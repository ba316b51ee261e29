"""Sen1Floods11 data: reading chips, the catalog, tiles, statistics, synthetic data, pipelines."""

from flood_jax.scenes.bands import engineered_bands
from flood_jax.scenes.geotiff import Chip, read_chip

__all__ = ["Chip", "engineered_bands", "read_chip"]
