"""The notebook's model ablation: each variant with the best config's loss and schedule.

Run with `python experiments/run_sweep.py --sweep=experiments/ablation_models.py --root=runs/models`
plus any shared override (e.g. `--override=--config.data.root=/data/v1.1`).
"""

from flood_jax.models import MODEL_VARIANTS

SWEEP = [
  {"name": variant, "config": f"configs/best.py:model={variant}", "overrides": []}
  for variant in MODEL_VARIANTS
]
