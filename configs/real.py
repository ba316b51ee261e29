"""The bundled model's recipe: the synthetic-only demo model fine-tuned with real chips.

Starts from flood_jax/bundled/synthetic (configs/demo.py's model, trained on synthetic chips
alone) and trains on the demo's synthetic batches with half of every batch drawn from the real
chips of ../shared/data (the Sen1Floods11 test chips, DFC 2024 and TerraMesh; read each
SOURCES.md there), which must sit beside the project. Hand labels weigh 1 in the loss, TerraMesh's
weak land-cover labels 0.5. 400 steps on CPU (about 6 minutes on 2 cores); the model is the last
step (one evaluation, at the end). `experiments.cross_validate` trains the same recipe once per
fold, each without its fold's chips, and chose the map rules below.
"""

from pathlib import Path

from configs import default, demo

PROJECT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT.parent / "shared" / "data"
REAL_ROOTS = (
  SHARED_DATA / "sen1floods11" / "v1.1",
  SHARED_DATA / "dfc2024",
  SHARED_DATA / "terramesh",
)
SYNTHETIC_MODEL = PROJECT / "flood_jax" / "bundled" / "synthetic"


def get_config(arg=None):
  config = demo.get_config()
  config.init_from = str(SYNTHETIC_MODEL)
  config.data.real_roots = tuple(str(root) for root in REAL_ROOTS)
  config.data.real_fraction = 0.5
  config.data.real_hand_weight = 1.0
  config.data.real_weak_weight = 0.5
  config.num_train_steps = 400
  config.eval_every_steps = 400
  config.optimizer.learning_rate = 5e-4
  config.optimizer.warmup_steps = 20
  config.optimizer.first_period = 400
  return default.apply_arg(config, arg)
