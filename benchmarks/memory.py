"""Peak resident memory of this process alone.

`getrusage(RUSAGE_SELF).ru_maxrss` is not that in a child process: Linux keeps the parent's
high-water mark across fork and exec, so a child started by a large parent reports at least the
parent's peak. VmHWM in /proc/self/status belongs to the process's own memory map, which exec
makes new.
"""

from __future__ import annotations

import resource
from pathlib import Path


def own_peak_mib() -> float:
  """This process's peak resident memory (MiB) since it was started (exec), not its parent's."""
  status = Path("/proc/self/status")
  if status.exists():
    for line in status.read_text().splitlines():
      if line.startswith("VmHWM:"):
        return int(line.split()[1]) / 1024  # kB
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
