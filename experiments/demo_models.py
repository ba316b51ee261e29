"""The model ablation at demo scale (configs/demo.py: small filters, synthetic data): runs on a
CPU in about an hour."""

from flood_jax.models import MODEL_VARIANTS

SWEEP = [
  {"name": variant, "config": f"configs/demo.py:model={variant}", "overrides": []}
  for variant in MODEL_VARIANTS
]
