"""Segmentation models, chosen by name (`models.architectures`)."""

from flood_jax.models.architectures import model_from_config
from flood_jax.models.operations import operations
from flood_jax.models.resunet import MODEL_VARIANTS, ResUNet

__all__ = ["MODEL_VARIANTS", "ResUNet", "model_from_config", "operations"]
