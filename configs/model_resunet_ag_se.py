"""Ablation: the resunet_ag_se model variant (flood_jax.models.MODEL_VARIANTS), other fields as best.py."""

from configs import best
from flood_jax.models import MODEL_VARIANTS


def get_config():
  config = best.get_config()
  config.model.update(MODEL_VARIANTS["resunet_ag_se"])
  return config
