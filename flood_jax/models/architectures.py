"""Architectures chosen by name: `config.model.name` is a module of flood_jax/models (`resunet`,
the ResUNet family of the notebook) or a dotted module path, whose `build(fields, injected)`
returns the Flax module from the config's other fields and the operations chosen here once for
the platform (`models.operations`). A new architecture is one new module with `build` and one
config entry; training, evaluation, mapping and export build it through `model_from_config`.
"""

from __future__ import annotations

import importlib

import jax

from flood_jax.errors import ConfigError
from flood_jax.models.operations import operations

DEFAULT = "resunet"


def model_from_config(model_config, platform: str | None = None):
  """The module of a `config.model` section, with the operations for `platform` (default:
  JAX's first device); `fast_convolutions` chooses the fast or the library operations."""
  fields = dict(model_config)
  name = fields.pop("name", DEFAULT)
  fast = fields.pop("fast_convolutions", True)
  path = name if "." in name else f"flood_jax.models.{name}"
  try:
    module = importlib.import_module(path)
  except ModuleNotFoundError:
    raise ConfigError(
      f"config.model.name={name!r}: no module {path} (a module of flood_jax/models, or a dotted "
      "path, with build(fields, injected))"
    ) from None
  return module.build(fields, operations(platform or jax.devices()[0].platform, fast))
