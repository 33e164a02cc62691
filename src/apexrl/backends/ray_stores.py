"""Parameters and replay shards on Ray (the ``ray`` backend's stores; see
:mod:`apexrl.backends.ray_backend` for the placement).

- :class:`ParamStore` (a Ray actor) holds the newest parameter reference, the actors' flow
  control and seed generations; :class:`RayParams` is the ``publish`` / ``pull`` interface
  of :class:`apexrl.runtime.params.SharedParams` over it.
- :class:`ReplayShard` (a Ray actor) is one prioritized replay; :class:`RayShardedReplay` is the
  learner's single-replay view of all shards, sampling in proportion to their priority mass
  (:mod:`apexrl.replay.sharded`).
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

import numpy as np
import ray
import torch
from torch import nn

from apexrl.envs import EnvSpecInfo
from apexrl.replay import take_items
from apexrl.replay.sharded import combine_samples, shard_counts, split_keys
from apexrl.runtime.actor import ActorMessage
from apexrl.runtime.params import _load_flat


# ---------------------------------------------------------------------------- parameters
@ray.remote(num_cpus=0, max_concurrency=64)
class ParamStore:
    """The newest parameter reference, flow control for actors, and seed generations.

    Threaded: ``wait_flow`` blocks (up to a second) until the learner lets actors insert, so a
    throttled actor waits instead of polling."""

    def __init__(self, base_generation: int) -> None:
        self.version = 0
        self.ref: list[Any] = []
        self.may_insert = True
        self.stopped = False
        self.changed = threading.Condition()
        self.generations: dict[int, int] = collections.defaultdict(lambda: base_generation - 1)

    def publish(self, version: int, ref: list[Any]) -> None:
        with self.changed:
            self.version, self.ref = version, ref

    def latest(self, have_version: int) -> tuple[int, list[Any] | None]:
        with self.changed:
            return self.version, (self.ref if self.version > have_version else None)

    def set_flow(self, may_insert: bool, stopped: bool = False) -> None:
        with self.changed:
            self.may_insert, self.stopped = may_insert, stopped
            self.changed.notify_all()

    def wait_flow(self, timeout_s: float = 1.0) -> tuple[bool, bool]:
        """``(may_insert, stopped)`` as soon as either is true, or after ``timeout_s``."""
        with self.changed:
            self.changed.wait_for(lambda: self.may_insert or self.stopped, timeout=timeout_s)
            return self.may_insert, self.stopped

    def next_generation(self, index: int) -> int:
        with self.changed:
            self.generations[index] += 1
            return self.generations[index]

    def set_base_generation(self, base: int) -> None:
        with self.changed:
            self.generations = collections.defaultdict(lambda: base - 1)


class RayParams:
    """:class:`apexrl.runtime.params.SharedParams`' interface over a :class:`ParamStore`: the
    learner ``publish``-es (one ``ray.put`` per publication, at most every ``min_interval_s``),
    actors ``pull``."""

    def __init__(self, store: Any, min_interval_s: float = 0.1) -> None:
        self.store = store
        self.min_interval_s = min_interval_s
        self._version = 0
        self._last = -1e9

    @property
    def version(self) -> int:
        return self._version

    def publish(self, network: nn.Module, force: bool = False) -> bool:
        now = time.monotonic()
        if not force and now - self._last < self.min_interval_s and self._version > 0:
            return False
        flat = torch.cat([p.detach().reshape(-1) for p in network.parameters()]).float().cpu()
        if not bool(torch.isfinite(flat).all()):
            return False  # NaN parameters are never sent to actors
        self._version += 1
        self.store.publish.remote(self._version, [ray.put(flat)])
        self._last = now
        return True

    def pull(self, network: nn.Module, have_version: int = -1, timeout_s: float = 30.0) -> int:
        version, ref = ray.get(self.store.latest.remote(have_version), timeout=timeout_s)
        if ref is None:
            return max(have_version, 0)
        _load_flat(ray.get(ref[0], timeout=timeout_s), network)
        return version


# ---------------------------------------------------------------------------- replay shards
@ray.remote(num_cpus=0)
class ReplayShard:
    """One prioritized replay shard; keeps receipts of what actors inserted for the learner."""

    def __init__(self, config: Any, info: EnvSpecInfo, capacity: int, seed: int, algo: str) -> None:
        import dataclasses

        from apexrl.agents import get_agent
        from apexrl.replay.build import agent_replay

        rcfg = dataclasses.replace(config.replay, replay_capacity=capacity,
                                   learning_starts=min(config.replay.learning_starts, capacity))
        self.replay = agent_replay(get_agent(algo), dataclasses.replace(config, replay=rcfg), info, seed=seed)
        self.receipts: list[tuple[int, int, list, int, str]] = []
        self.statuses = 0

    def add(self, message: ActorMessage) -> None:
        self.replay.add(message.items, message.priorities)
        self.receipts.append((message.actor, message.env_steps, message.episodes, message.num_transitions,
                              message.node))

    def _status(self) -> tuple[int, float, list, int]:
        """``(items held, priority mass, receipts since the last status, status number)``."""
        receipts, self.receipts = self.receipts, []
        self.statuses += 1
        return len(self.replay), self.replay.sum_tree.total, receipts, self.statuses

    def drain(self) -> tuple[int, float, list, int]:
        return self._status()

    def sample(self, n: int) -> tuple[Any, tuple[int, float, list, int]]:
        return self.replay.sample(n), self._status()

    def update_priorities(self, keys: np.ndarray, priorities: np.ndarray) -> None:
        self.replay.update_priorities(keys, priorities)

    def nbytes(self) -> int:
        return int(self.replay.nbytes)

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, meta = self.replay.state_dict()
        return {k: np.array(v) for k, v in arrays.items()}, meta

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> int:
        self.replay.load_state_dict(arrays, meta)
        return len(self.replay)


class RayShardedReplay:
    """The learner's view of the shards, with the single-replay interface the trainer uses.

    ``sample`` prefetches: it fetches ``prefetch_batches`` batches per round trip and requests the
    next round as soon as one arrives, so shard round trips overlap the learner's updates (the
    priorities of a prefetched batch may miss the last few updates, as in Ape-X's asynchronous
    learner). Receipts of inserted messages come back with every shard reply.
    """

    def __init__(self, shards: list[Any], seed: int, prefetch_batches: int = 4) -> None:
        self.shards = shards
        self.num_shards = len(shards)
        self._rng = np.random.default_rng(seed)
        self._sizes = np.zeros(self.num_shards, dtype=np.int64)
        self._masses = np.zeros(self.num_shards)
        self._status_seen = np.zeros(self.num_shards, dtype=np.int64)
        self.receipts: list[tuple[int, int, list, int, str]] = []
        self._pending: list[tuple[int, Any]] | None = None
        self._ready: list[np.ndarray] = []
        self._whole: Any = None
        self._updates: list[tuple[np.ndarray, np.ndarray]] = []
        self._last_drain = 0.0
        self.importance_sampling_exponent = 0.0
        self.prefetch_batches = prefetch_batches

    def _absorb(self, j: int, status: tuple[int, float, list, int]) -> None:
        """Take a shard's status: its receipts always; its size and mass only when newer than the
        last one taken (a prefetched sample's reply can arrive after a later drain's)."""
        if status[3] > self._status_seen[j]:
            self._status_seen[j] = status[3]
            self._sizes[j], self._masses[j] = status[0], status[1]
        self.receipts.extend(status[2])

    def drain(self) -> None:
        for j, status in enumerate(ray.get([s.drain.remote() for s in self.shards])):
            self._absorb(j, status)
        self._last_drain = time.monotonic()

    def __len__(self) -> int:
        return int(self._sizes.sum())

    def can_sample(self, batch_size: int) -> bool:
        """Whether the shards hold any item (as of their last reply)."""
        return len(self) > 0

    def _request(self, batch_size: int) -> list[tuple[int, Any]]:
        if not self._masses.sum() > 0:
            self.drain()
        counts = shard_counts(self._masses, batch_size * self.prefetch_batches, self._rng)
        return [(j, self.shards[j].sample.remote(int(n))) for j, n in enumerate(counts) if n > 0]

    def sample(self, batch_size: int) -> Any:
        """One batch of ``batch_size``; every ``prefetch_batches`` calls one round trip to the
        shards fetches the next ``prefetch_batches`` batches (one multinomial split of all of
        them, then a random permutation into batches: each item of each batch is still drawn
        with probability ``p_i^α / M``)."""
        if not self._ready:
            pending = self._pending if self._pending is not None else self._request(batch_size)
            results = ray.get([ref for _, ref in pending])
            parts = []
            for (j, _), (batch, status) in zip(pending, results):
                self._absorb(j, status)
                parts.append((j, batch))
            self._last_drain = time.monotonic()
            self._pending = self._request(batch_size)  # the next round travels while the learner trains
            whole = combine_samples(parts, self.num_shards, self.importance_sampling_exponent)
            order = self._rng.permutation(len(whole.keys))
            self._ready = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
            self._whole = whole
        rows = self._ready.pop(0)
        w = self._whole
        leaves = w.leaves[rows]
        weights = ((leaves.min() / leaves) ** self.importance_sampling_exponent).astype(np.float32)
        data = take_items(w.data, rows)
        return type(w)(keys=w.keys[rows], data=data, weights=weights, leaves=leaves)

    def update_priorities(self, keys: np.ndarray, priorities: np.ndarray) -> None:
        """Queue new priorities; they are sent with the next round of sample requests (one call
        per shard per ``prefetch_batches`` updates)."""
        self._updates.append((np.asarray(keys), np.asarray(priorities)))
        if not self._ready:
            self._flush_updates()

    def _flush_updates(self) -> None:
        if not self._updates:
            return
        keys = np.concatenate([k for k, _ in self._updates])
        priorities = np.concatenate([p for _, p in self._updates])
        self._updates = []
        for j, pos in split_keys(keys, self.num_shards):
            self.shards[j].update_priorities.remote(keys[pos] // self.num_shards, priorities[pos])

    def add(self, items: Any, priorities: Any = None) -> None:
        raise RuntimeError("with --backend ray, actors write to the replay shards themselves")

    @property
    def nbytes(self) -> int:
        return int(sum(ray.get([s.nbytes.remote() for s in self.shards])))

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        self._flush_updates()
        if self._pending is not None:  # a checkpoint is a consistent point: no batch in flight
            for (j, _), (_, status) in zip(self._pending, ray.get([ref for _, ref in self._pending])):
                self._absorb(j, status)  # keep the receipts it carried
        self._pending, self._ready = None, []
        arrays: dict[str, np.ndarray] = {}
        metas = []
        for j, (a, m) in enumerate(ray.get([s.state_dict.remote() for s in self.shards])):
            arrays.update({f"shard{j}.{k}": v for k, v in a.items()})
            metas.append(m)
        return arrays, {"num_shards": self.num_shards, "shards": metas}

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        """Raises ValueError when the checkpoint has another number of shards."""
        if meta.get("num_shards") != self.num_shards:
            raise ValueError(f"checkpoint has {meta.get('num_shards', 1)} replay shard(s) but --replay-shards is "
                             f"{self.num_shards}; resume with --replay-shards {meta.get('num_shards', 1)}")
        refs = []
        for j, (shard, m) in enumerate(zip(self.shards, meta["shards"])):
            prefix = f"shard{j}."
            refs.append(shard.load_state_dict.remote({k[len(prefix):]: v for k, v in arrays.items()
                                                      if k.startswith(prefix)}, m))
        for j, size in enumerate(ray.get(refs)):
            self._sizes[j] = size
        self.drain()
