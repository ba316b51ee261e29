"""Evaluators chosen by name: `config.evals` maps a name to an entry `{"type": TYPE, ...options}`
where TYPE is one of `EVALUATORS` or a dotted path `module:Class` (a new evaluator is one class
with `add(ChipResult)` and `results()`, and one config entry). `evaluate` runs every entry
beside the report's own evaluators; training runs those with `during_training: True` at its
evaluation steps (`evaluation.during_training`). The other keys of an entry are the class's
keyword arguments.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from flood_jax.errors import ConfigError
from flood_jax.evaluation.evaluators import Official, PerImage, Samples, Scores

EVALUATORS = {"scores": Scores, "per_image": PerImage, "samples": Samples, "official": Official}
RUN_KEYS = ("type", "during_training", "split")  # how an entry is run, not the class's options


def evaluator_class(type_name: str):
  """The class of an entry's type: a registered name, or `module:Class`."""
  if type_name in EVALUATORS:
    return EVALUATORS[type_name]
  module, _, name = type_name.partition(":")
  try:
    return getattr(importlib.import_module(module), name)
  except (ModuleNotFoundError, AttributeError, ValueError):
    raise ConfigError(
      f"evaluator type {type_name!r}: neither one of {sorted(EVALUATORS)} nor module:Class"
    ) from None


def evaluators_from(evals: Mapping, during_training: bool = False) -> dict:
  """{name: evaluator} of the config.evals entries (only those run during training, if asked)."""
  built = {}
  for name, entry in dict(evals).items():
    entry = dict(entry)
    if "type" not in entry:
      raise ConfigError(
        f"config.evals.{name}: no 'type' (one of {sorted(EVALUATORS)}, or module:Class)"
      )
    if during_training and not entry.get("during_training", False):
      continue
    options = {key: value for key, value in entry.items() if key not in RUN_KEYS}
    try:
      built[name] = evaluator_class(entry["type"])(**options)
    except TypeError as error:
      raise ConfigError(f"config.evals.{name}: {error}") from None
  return built
