"""The command-line boilerplate of every `python -m flood_jax.<program>`, written once.

    if __name__ == "__main__":
      cli.run(define_flags, main)

defines the program's flags plus `--verbose`, parses them (a bad `--config.<field>` override is
one line, not a traceback), and runs `main()`. Any `FloodJaxError` prints as one line starting
with `error:` and exits with status 2; `--verbose` shows the traceback instead.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from absl import app, flags

from flood_jax.errors import FloodJaxError, UsageError

FLAGS = flags.FLAGS


def require(*names: str) -> None:
  """Raises UsageError naming the first of these flags that is not set."""
  for name in names:
    if getattr(FLAGS, name) in (None, ""):
      raise UsageError(f"--{name} is required (see --help)")


def _fail(message: str) -> None:
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def parse_flags(argv: Sequence[str]) -> list[str]:
  """absl flag parsing whose errors print one line instead of a traceback.

  ml_collections raises AttributeError, KeyError, ValueError or TypeError for an unknown or
  mistyped `--config.<field>` while absl parses flags, before `main` runs.
  """
  try:
    return FLAGS(argv)
  except FloodJaxError as error:  # raised by a config file's get_config(arg)
    _fail(str(error))
  except flags.Error as error:
    _fail(str(error))
  except (AttributeError, KeyError, ValueError, TypeError) as error:
    override = next((arg for arg in argv[1:] if arg.startswith("--config.")), "--config")
    detail = " ".join(str(error).replace("\\n", " ").replace("\\", "").replace("'", "").split())
    _fail(f"{override.split('=')[0]}: not a valid config override ({detail})")


def run(define_flags: Callable[[], None], main: Callable[[], None]) -> None:
  """Defines the flags, parses them and runs `main()` with user errors as one line."""
  define_flags()
  # Declared as the program's own flag, so --help lists it with the program's.
  flags.DEFINE_bool(
    "verbose",
    False,
    "Show tracebacks and library logs (Dask, Orbax, ...).",
    module_name=sys.argv[0],
  )

  def wrapped(argv: Sequence[str]) -> None:
    if not FLAGS.verbose:
      quiet_library_logs()
    try:
      if len(argv) > 1:
        raise UsageError(f"unexpected arguments {list(argv[1:])}; every input is a --flag")
      main()
    except FloodJaxError as error:
      if FLAGS.verbose:
        raise
      _fail(str(error))

  app.run(wrapped, flags_parser=parse_flags)


class _LibraryInfoFilter:
  """Drops INFO lines from libraries (Orbax prints a dozen per checkpoint, a Dask cluster
  dozens per start); keeps warnings."""

  NOISY = (
    "/orbax/", "/jax/", "/jaxlib/", "/tensorstore/", "/grain/", "/tensorboardX/", "/distributed/",
    "/dask/", "/pyogrio/", "/rasterio/",
  )  # fmt: skip

  def filter(self, record) -> bool:
    return record.levelno >= 30 or not any(part in record.pathname for part in self.NOISY)


def quiet_library_logs() -> None:
  """Libraries' INFO lines off (every program, unless --verbose); Dask's loggers, which have
  handlers of their own, to warnings."""
  import logging as python_logging

  from absl import logging as absl_logging

  handler = absl_logging.get_absl_handler()
  for target in (handler, python_logging.getLogger()):
    if not any(isinstance(existing, _LibraryInfoFilter) for existing in target.filters):
      target.addFilter(_LibraryInfoFilter())
  for name in ("distributed", "dask", "pyogrio", "rasterio"):
    python_logging.getLogger(name).setLevel(python_logging.WARNING)
