"""User-facing errors and the command-line wrapper that prints them in one line.

Every error a user can fix (bad file, bad config field, missing checkpoint) is raised as
`FloodJaxError` with a message that names the file or field and what to do. Command-line
entry points run through `run_cli`, which prints that message without a traceback (unless
`--verbose`) and exits with status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence


class FloodJaxError(Exception):
  """An error caused by the user's input, with a message saying what to fix."""


class DataError(FloodJaxError):
  """A data file or dataset layout is missing or malformed."""


class ConfigError(FloodJaxError):
  """A config field is missing, mistyped or out of range."""


def run_cli(main: Callable[[Sequence[str]], None]) -> Callable[[Sequence[str]], None]:
  """Wraps an absl `main(argv)` so user errors print one line and exit non-zero."""

  def wrapped(argv: Sequence[str]) -> None:
    try:
      main(argv)
    except FloodJaxError as error:
      from absl import flags

      if "verbose" in flags.FLAGS and flags.FLAGS.verbose:
        raise
      print(f"error: {error}", file=sys.stderr)
      sys.exit(2)

  return wrapped


def parse_flags(argv: Sequence[str]) -> list[str]:
  """absl flag parsing whose config-override errors print one line instead of a traceback.

  ml_collections raises AttributeError or ValueError for an unknown or mistyped
  `--config.<field>` while absl parses flags, before `main` runs. Pass as
  `app.run(main, flags_parser=parse_flags)`.
  """
  from absl import flags

  try:
    return flags.FLAGS(argv)
  except flags.Error as error:
    print(f"error: {error}", file=sys.stderr)
    sys.exit(2)
  except (AttributeError, KeyError, ValueError, TypeError) as error:
    override = next((arg for arg in argv[1:] if arg.startswith("--config.")), "--config")
    detail = " ".join(str(error).replace("\\n", " ").replace("\\", "").replace("'", "").split())
    print(
      f"error: {override.split('=')[0]}: not a valid config override ({detail})", file=sys.stderr
    )
    sys.exit(2)
