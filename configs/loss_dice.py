"""Ablation: the best model trained with the dice loss alone, other fields as best.py."""

from configs import best


def get_config():
  config = best.get_config()
  config.loss.terms = {"dice": 1.0}
  return config
