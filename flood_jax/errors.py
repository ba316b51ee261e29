"""User-facing errors: one class per kind of problem, each a message that says what to fix.

- `DataError`: a data file or dataset is missing, unreadable or malformed (names the file).
- `ConfigError`: a config field is missing, mistyped or out of range, or training diverged in a
  way a config field controls (names the field).
- `UsageError`: the command line asks for something that cannot be done: a missing flag, a
  workdir or model folder that holds no model, an output that would replace an input or an
  existing file (names the flag or path).

`flood_jax.cli` prints any of them in one line, without a traceback, and exits with status 2.
"""

from __future__ import annotations


class FloodJaxError(Exception):
  """An error caused by the user's input, with a message saying what to fix."""


class DataError(FloodJaxError):
  """A data file or dataset layout is missing or malformed."""


class ConfigError(FloodJaxError):
  """A config field is missing, mistyped or out of range."""


class UsageError(FloodJaxError):
  """A command-line flag or path asks for something that cannot be done."""
