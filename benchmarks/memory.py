"""Peak resident memory of this process alone, and a benchmark's figures from a child process
(so that its peak is its own).

`getrusage(RUSAGE_SELF).ru_maxrss` is not that in a child process: Linux keeps the parent's
high-water mark across fork and exec, so a child started by a large parent reports at least the
parent's peak. VmHWM in /proc/self/status belongs to the process's own memory map, which exec
makes new.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def own_peak_mib() -> float:
  """This process's peak resident memory (MiB) since it was started (exec), not its parent's."""
  status = Path("/proc/self/status")
  if status.exists():
    for line in status.read_text().splitlines():
      if line.startswith("VmHWM:"):
        return int(line.split()[1]) / 1024  # kB
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(module: str, *arguments: str) -> dict:
  """The figures `python -m module *arguments` prints as JSON on its last line; its stderr's
  tail in the error where it fails."""
  command = [sys.executable, "-m", module, *arguments]
  result = subprocess.run(command, cwd=PROJECT, capture_output=True, text=True)
  if result.returncode:
    raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
  return json.loads(result.stdout.strip().splitlines()[-1])
