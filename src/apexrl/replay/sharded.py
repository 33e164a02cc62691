"""Prioritized replay split into shards, sampled as one replay.

Ape-X implementations shard the replay to spread insertion and sampling load over several
processes or machines (Horgan et al. 2018, §3: "the replay memory ... can be sharded"). Here a
batch of ``B`` is split between the ``R`` shards by a multinomial draw with probabilities
``M_j / Σ_k M_k``, where ``M_j`` is shard ``j``'s priority mass ``Σ_{i∈j} p_i^α``; each shard
then samples proportionally within itself. An item ``i`` of shard ``j`` is therefore drawn
with probability ``(M_j/M) · (p_i^α/M_j) = p_i^α / M``: exactly the distribution of one
replay holding all items. Importance weights are computed over the combined batch from the
items' masses, ``w_i = (min_batch p^α / p_i^α)^β`` (the single replay's formula), so they do not
depend on how the batch was split.

The functions here are pure: :class:`ShardedReplay` uses them over local shards, the Ray
backend over remote ones. Keys of the combined batch are ``local_key · R + shard``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from apexrl.replay.adder import concat_items
from apexrl.replay.prioritized import PrioritizedReplay
from apexrl.types import SampledBatch


def shard_counts(masses: Sequence[float], batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """``[R]`` ``int64`` items to draw from each shard: Multinomial(``batch_size``, ``M_j / Σ M``).

    Raises:
        ValueError: every shard has mass 0 (nothing can be sampled) or a mass is negative.
    """
    m = np.asarray(masses, dtype=np.float64)
    if (m < 0).any() or not np.isfinite(m).all():
        raise ValueError(f"shard masses must be finite and >= 0, got {m}")
    total = m.sum()
    if not total > 0:
        raise ValueError("cannot sample: every replay shard is empty or has priority 0")
    return rng.multinomial(batch_size, m / total).astype(np.int64)


def combine_samples(parts: Sequence[tuple[int, SampledBatch]], num_shards: int, beta: float) -> SampledBatch:
    """Concatenate per-shard samples ``(shard, batch)`` into one batch with global keys and
    importance weights from the items' masses (``batch.leaves``).

    Raises:
        ValueError: no parts, or a part without ``leaves``.
    """
    if not parts:
        raise ValueError("no shard samples to combine")
    if any(b.leaves is None for _, b in parts):
        raise ValueError("shard samples need their leaves (p^alpha) to combine")
    keys = np.concatenate([b.keys * num_shards + j for j, b in parts])
    leaves = np.concatenate([b.leaves for _, b in parts])  # type: ignore[misc]
    weights = (leaves.min() / leaves) ** beta
    data = concat_items([b.data for _, b in parts])
    return SampledBatch(keys=keys, data=data, weights=weights.astype(np.float32), leaves=leaves)


def split_keys(keys: np.ndarray, num_shards: int) -> list[tuple[int, np.ndarray]]:
    """``[(shard, positions)]`` of global keys: the shard of key ``k`` is ``k % R``, its local key
    ``k // R``; ``positions`` index into ``keys``."""
    k = np.asarray(keys, dtype=np.int64)
    shards = k % num_shards
    return [(j, np.flatnonzero(shards == j)) for j in range(num_shards) if (shards == j).any()]


class ShardedReplay:
    """``R`` :class:`PrioritizedReplay` shards behind the single-replay interface (in one process).

    Items go to the shards round-robin, one ``add`` call at a time, unless ``shard`` is given.
    Pixel streams (:class:`FrameStorage`) must always go to the same shard, since a message's
    transitions may use frames sent in an earlier message: pass ``shard`` (the Ray backend's actor
    ``i`` writes to shard ``i mod R``). Sampling follows the module docstring.

    Args:
        shards: the shards (same storage type; capacities add up).
        seed: seed of the shard-split RNG.

    Raises:
        ValueError: no shards.
    """

    def __init__(self, shards: Sequence[PrioritizedReplay], seed: int | None = None) -> None:
        if not shards:
            raise ValueError("ShardedReplay needs at least one shard")
        self.shards = list(shards)
        self._rng = np.random.default_rng(seed)
        self._next = 0

    @property
    def num_shards(self) -> int:
        return len(self.shards)

    @property
    def capacity(self) -> int:
        return sum(s.capacity for s in self.shards)

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.shards)

    @property
    def importance_sampling_exponent(self) -> float:
        return self.shards[0].importance_sampling_exponent

    @importance_sampling_exponent.setter
    def importance_sampling_exponent(self, value: float) -> None:
        for s in self.shards:
            s.importance_sampling_exponent = value

    def __len__(self) -> int:
        return sum(len(s) for s in self.shards)

    def add(self, items: Any, priorities: np.ndarray | None = None, shard: int | None = None) -> np.ndarray:
        """Add a message to one shard (the next in turn unless ``shard`` is given); returns the
        global keys (``-1`` where the shard rejected an item)."""
        j = self._next if shard is None else int(shard)
        self._next = (j + 1) % self.num_shards
        local = self.shards[j].add(items, priorities)
        return np.where(local >= 0, local * self.num_shards + j, -1)

    def sample(self, batch_size: int) -> SampledBatch:
        """A batch drawn as from one replay holding every shard's items (module docstring)."""
        counts = shard_counts([s.sum_tree.total for s in self.shards], batch_size, self._rng)
        parts = [(j, self.shards[j].sample(int(n))) for j, n in enumerate(counts) if n > 0]
        return combine_samples(parts, self.num_shards, self.importance_sampling_exponent)

    def update_priorities(self, keys: np.ndarray, priorities: np.ndarray) -> None:
        """Route new priorities to the shards holding the keys."""
        p = np.asarray(priorities)
        for j, pos in split_keys(keys, self.num_shards):
            self.shards[j].update_priorities(np.asarray(keys)[pos] // self.num_shards, p[pos])
