"""flood_jax: flood mapping from Sentinel-1 SAR with an attention ResUNet in JAX/Flax."""

__version__ = "0.1.0"
