"""A tiny configuration for the tests: 8-16 filters, 128-px tiles, 64-px prediction windows, a few
steps on CPU."""

from configs import default


def get_config(arg=None):
  config = default.get_config(arg)
  config.data.tile_size = 128
  config.data.tile_stride = 128
  config.data.synthetic_hand = 12
  config.data.synthetic_weak = 6
  config.data.num_threads = 1
  config.model.filters = (8, 16)
  config.model.dropout = 0.0
  config.batch_size = 4
  config.eval_batch_size = 8
  config.num_train_steps = 6
  config.eval_every_steps = 3
  config.log_every_steps = 2
  config.optimizer.warmup_steps = 2
  config.optimizer.first_period = 4
  config.num_sample_images = 2
  config.predict.tile_size = 64
  config.predict.overlap = 16
  config.predict.batch_size = 4
  return config
