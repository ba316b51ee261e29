"""The notebook's best model and hyperparameters: ResUNet + attention gates + squeeze-and-excitation,
focal Tversky loss (alpha 0.7 on false negatives, gamma 4/3), SGDR, early stopping on IoU.

Train on the real Sen1Floods11 with --config.data.root=/path/to/v1.1. The ablations are
arguments: `--config=configs/best.py:model=resunet_se` or `:loss=dice` (see default.apply_arg).
"""

from configs import default
from flood_jax.models import MODEL_VARIANTS


def get_config(arg=None):
  config = default.get_config()
  config.model.update(MODEL_VARIANTS["resunet_ag_se"])
  config.model.filters = (64, 128, 256, 512)
  config.loss.terms = {"focal_tversky": 1.0}
  config.batch_size = 16
  config.optimizer.learning_rate = 1e-3
  return default.apply_arg(config, arg)
