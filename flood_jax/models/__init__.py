"""Segmentation models."""

from flood_jax.models.operations import operations
from flood_jax.models.resunet import MODEL_VARIANTS, ResUNet, model_from_config

__all__ = ["MODEL_VARIANTS", "ResUNet", "model_from_config", "operations"]
