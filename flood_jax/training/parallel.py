"""Data parallelism: one mesh with a `data` axis over every device of every process.

The same code path runs on 1 CPU, 8 GPUs or many hosts: batches are sharded along the batch
axis, the train state is replicated, and XLA inserts the gradient all-reduce.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def make_mesh(devices=None) -> Mesh:
  """A 1-D mesh over `devices` (default: every device of every process)."""
  return Mesh(np.asarray(devices if devices is not None else jax.devices()), ("data",))


def data_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec("data"))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def platform(mesh: Mesh) -> str:
  """The kind of device the mesh's computations run on ("cpu", "gpu", "tpu")."""
  return mesh.devices.flat[0].platform


def global_batch(local_batch: dict, mesh: Mesh) -> dict:
  """Assembles each process's rows into one global array sharded over the `data` axis."""
  sharding = data_sharding(mesh)
  return {
    name: jax.make_array_from_process_local_data(sharding, np.asarray(value))
    for name, value in local_batch.items()
  }


def local_rows(array: jax.Array) -> np.ndarray:
  """This process's rows of a batch-sharded global array, in the order it supplied them."""
  shards = sorted(array.addressable_shards, key=lambda shard: shard.index[0].start or 0)
  return np.concatenate([np.asarray(shard.data) for shard in shards])
