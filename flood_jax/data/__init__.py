"""Sen1Floods11 data: reading chips, the catalog, tiles, statistics, synthetic data, pipelines."""

from flood_jax.data.bands import engineered_bands
from flood_jax.data.geotiff import Chip, read_chip

__all__ = ["Chip", "engineered_bands", "read_chip"]
