"""Proportional prioritized replay (Schaul et al. 2016) as used by Ape-X (Horgan et al. 2018).

Priorities arrive from the actors with the data (Ape-X Algorithm 1, line 10) and from the
learner after each update (Algorithm 2); the replay is a FIFO ring of ``capacity`` items
whose sampling mass ``p_i^α`` lives in a :class:`~apexrl.replay.sum_tree.SumTree`.
"""

from __future__ import annotations

import math
from typing import Any, Protocol, Union

import numpy as np

from apexrl.replay.adder import num_items
from apexrl.replay.sum_tree import SumTree
from apexrl.types import FrameTransitions, SampledBatch, Transitions

__all__ = ["PrioritizedReplay", "Storage"]

Items = Union[Transitions, FrameTransitions]


class Storage(Protocol):
    """What :class:`PrioritizedReplay` needs from a storage (see :mod:`apexrl.replay.storage`)."""

    capacity: int

    def write(self, slots: np.ndarray, items: Any) -> np.ndarray: ...

    def read(self, slots: np.ndarray) -> Transitions: ...

    def valid(self, slots: np.ndarray) -> np.ndarray: ...

    @property
    def nbytes(self) -> int: ...


def _tail(items: Items, start: int) -> Items:
    """The items ``start:`` (all frames of a FrameTransitions message are kept); an agent's own
    container gives them by its ``tail(start)``."""
    if not isinstance(items, (Transitions, FrameTransitions)) and hasattr(items, "tail"):
        return items.tail(start)
    if isinstance(items, FrameTransitions):
        return items._replace(
            stream=items.stream[start:], obs_step=items.obs_step[start:],
            next_step=items.next_step[start:], action=items.action[start:],
            reward=items.reward[start:], discount=items.discount[start:],
        )
    return Transitions(*(np.asarray(f)[start:] for f in items))


def _nonneg_float(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a finite float >= 0, got {value!r}") from e
    if not math.isfinite(v) or v < 0.0:
        raise ValueError(f"{name} must be a finite float >= 0, got {value!r}")
    return v


def _check_priorities(priorities: Any, n: int, what: str) -> np.ndarray:
    try:
        p = np.asarray(priorities, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"priorities must be a float array, got {priorities!r}") from e
    if p.shape != (n,):
        raise ValueError(f"priorities must have shape ({n},) to match the {what}, got {p.shape}")
    if n and not np.isfinite(p).all():
        raise ValueError("priorities must be finite (got NaN or inf)")
    if n and p.min() < 0.0:
        raise ValueError(f"priorities must be >= 0 (raw |TD error|), got min {p.min()}")
    return p


class PrioritizedReplay:
    """FIFO replay with proportional prioritization (Schaul et al. 2016, Horgan et al. 2018).

    Item ``i`` has priority ``p_i = |δ_i| + ε`` and is sampled with probability
    ``P(i) = p_i^α / Σ_k p_k^α``; the sum tree stores ``p_i^α``. Importance-sampling
    weights are ``w_i = (N·P(i))^-β`` with ``N = len(self)``, divided by the largest weight
    *in the batch* (as Dopamine does; Schaul et al. 2016 divide by ``max_i w_i`` so updates
    only scale down; using the batch maximum keeps that property without tracking the
    global minimum priority). Since the batch normalisation cancels ``N`` and ``Σ``, the
    weights are computed as ``(min_batch p^α / p_i^α)^β``, which is the same number and
    cannot overflow.

    Keys are global insertion counters (``int64``): item ``k`` lives in slot ``k %
    capacity`` until ``capacity`` newer items have been added (FIFO). A key is *live* iff
    ``num_added - capacity <= k < num_added``; updates to other keys are ignored, so no
    per-slot key array is needed.

    Not thread-safe: one owner (the replay server) calls every method.

    Args:
        storage: an :class:`~apexrl.replay.ArrayStorage` or
            :class:`~apexrl.replay.FrameStorage` (anything with ``capacity``, ``write``,
            ``read``, ``valid``, ``nbytes``); ``capacity = storage.capacity``.
        priority_exponent: ``α >= 0`` (``0`` = uniform). Ape-X uses 0.6.
        importance_sampling_exponent: ``β >= 0``, settable for annealing. Ape-X uses 0.4.
        priority_epsilon: ``ε >= 0`` added to raw priorities so no item starves.
        seed: seed of the sampling RNG (``numpy.random.default_rng``).

    Raises:
        ValueError: on a storage without a positive ``capacity`` or a negative / non-finite
            exponent or epsilon, naming the argument.
    """

    def __init__(
        self,
        storage: Storage,
        priority_exponent: float = 0.6,
        importance_sampling_exponent: float = 0.4,
        priority_epsilon: float = 1e-6,
        seed: int | None = None,
    ) -> None:
        cap = getattr(storage, "capacity", None)
        if isinstance(cap, bool) or not isinstance(cap, (int, np.integer)) or cap < 1:
            raise ValueError(f"storage must have a positive integer capacity, got {cap!r}")
        for attr in ("write", "read", "valid"):
            if not callable(getattr(storage, attr, None)):
                raise ValueError(f"storage must have a {attr}() method")
        self._storage = storage
        self._capacity = int(cap)
        self._alpha = _nonneg_float("priority_exponent", priority_exponent)
        self._beta = _nonneg_float("importance_sampling_exponent", importance_sampling_exponent)
        self._eps = _nonneg_float("priority_epsilon", priority_epsilon)
        self._tree = SumTree(self._capacity)
        self._rng = np.random.default_rng(seed)
        self._added = 0
        self._max_priority = 1.0

    # ------------------------------------------------------------------ properties
    @property
    def capacity(self) -> int:
        """Maximum number of items (``storage.capacity``)."""
        return self._capacity

    @property
    def storage(self) -> Storage:
        """The underlying storage."""
        return self._storage

    @property
    def sum_tree(self) -> SumTree:
        """The sum tree of ``p^α`` per slot (for inspection; do not modify)."""
        return self._tree

    @property
    def priority_exponent(self) -> float:
        """``α``."""
        return self._alpha

    @property
    def priority_epsilon(self) -> float:
        """``ε``."""
        return self._eps

    @property
    def importance_sampling_exponent(self) -> float:
        """``β``; settable (anneal it towards 1 during training)."""
        return self._beta

    @importance_sampling_exponent.setter
    def importance_sampling_exponent(self, value: float) -> None:
        self._beta = _nonneg_float("importance_sampling_exponent", value)

    @property
    def max_priority(self) -> float:
        """Raw priority (``|δ|`` scale) given to items added without priorities.

        The running maximum of every raw priority passed to :meth:`add` and
        :meth:`update_priorities`, starting at ``1.0`` (it never decreases, as in Schaul et
        al. 2016 and cpprb).
        """
        return self._max_priority

    @property
    def num_added(self) -> int:
        """Keys issued so far (the next item's key)."""
        return self._added

    @property
    def nbytes(self) -> int:
        """Bytes allocated: storage + sum tree (bookkeeping is a few scalars)."""
        return int(self._storage.nbytes) + self._tree.nbytes

    def __len__(self) -> int:
        """Current number of items ``N = min(num_added, capacity)`` (rejected items count)."""
        return min(self._added, self._capacity)

    def can_sample(self, batch_size: int) -> bool:
        """Whether :meth:`sample` has something to draw from (any item is held); sampling is with
        replacement, so ``batch_size`` does not matter here."""
        return len(self) > 0

    # ------------------------------------------------------------------ add
    def add(self, items: Items, priorities: np.ndarray | None = None) -> np.ndarray:
        """Append items (FIFO: the oldest are overwritten once full).

        Args:
            items: :class:`Transitions` or :class:`FrameTransitions` with ``B`` items, as
                the storage expects.
            priorities: ``[B]`` raw priorities ``|δ|`` (finite, ``>= 0``), or ``None`` for
                :attr:`max_priority` (1.0 initially).

        Returns:
            ``[B]`` ``int64`` keys, aligned with ``items``; ``-1`` for an item the storage
            rejected (FrameStorage: its frames were evicted or are too old) or, when
            ``B > capacity``, for the first ``B - capacity`` items (overwritten at once).
            A rejected item still consumes its slot and key (with sampling mass 0).

        Raises:
            TypeError: if ``items`` is neither container type.
            ValueError: if ``priorities`` has the wrong shape or contains NaN, inf or a
                negative value, or if the storage rejects the message (e.g. a reference to
                a frame step never sent). Nothing is written then.
        """
        n = num_items(items)
        p = None if priorities is None else _check_priorities(priorities, n, "item count")
        c = self._capacity
        start = max(0, n - c)
        keys = self._added + np.arange(start, n, dtype=np.int64)
        slots = keys % c
        sub = items if start == 0 else _tail(items, start)
        stored = np.asarray(self._storage.write(slots, sub), dtype=bool)
        if p is None:
            leaf = np.full(n - start, (self._max_priority + self._eps) ** self._alpha)
        else:
            p = p[start:]
            leaf = (p + self._eps) ** self._alpha
            if stored.any():
                self._max_priority = max(self._max_priority, float(p[stored].max()))
        leaf[~stored] = 0.0
        self._tree.update(slots, leaf)
        self._added += n
        out = np.full(n, -1, dtype=np.int64)
        out[start:] = np.where(stored, keys, -1)
        return out

    # ------------------------------------------------------------------ sample
    def sample(self, batch_size: int) -> SampledBatch:
        """Stratified proportional sampling with importance-sampling weights.

        ``[0, total)`` is split in ``batch_size`` equal segments and one mass is drawn
        uniformly per segment (Schaul et al. 2016, appendix B.2.1), then located with a
        prefix-sum search. Sampled slots the storage reports invalid (evicted pixel frames)
        get mass 0 and are redrawn (uniformly over the whole remaining mass).

        Args:
            batch_size: ``B >= 1``; items may repeat within a batch.

        Returns:
            :class:`SampledBatch`: ``keys`` ``[B]`` ``int64``, ``data`` (:class:`Transitions`),
            ``weights`` ``[B]`` ``float32`` in ``(0, 1]``.

        Raises:
            ValueError: if ``batch_size < 1``, the replay is empty, or no item has positive
                mass (e.g. all priorities 0 with ``ε = 0``, or every item invalid).
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if self._added == 0:
            raise ValueError("cannot sample from an empty replay")
        total = self._tree.total
        if not total > 0.0:
            raise ValueError("cannot sample: every item has priority 0")
        b = int(batch_size)
        targets = (np.arange(b, dtype=np.float64) + self._rng.random(b)) * (total / b)
        slots = self._tree.find_prefixsum(targets)
        ok = self._storage.valid(slots)
        while not ok.all():
            bad = np.flatnonzero(~ok)
            self._tree.update(slots[bad], np.zeros(bad.size))
            total = self._tree.total
            if not total > 0.0:
                raise ValueError("cannot sample: no valid item left (all frames evicted)")
            slots[bad] = self._tree.find_prefixsum(self._rng.random(bad.size) * total)
            ok = self._storage.valid(slots)
        leaf = self._tree.get(slots)
        weights = (leaf.min() / leaf) ** self._beta
        c = self._capacity
        keys = slots + c * ((self._added - 1 - slots) // c)
        return SampledBatch(
            keys=keys, data=self._storage.read(slots), weights=weights.astype(np.float32), leaves=leaf
        )

    # ------------------------------------------------------------------ update
    def update_priorities(self, keys: np.ndarray, priorities: np.ndarray) -> None:
        """Set the priorities of sampled items (Ape-X Algorithm 2, learner side).

        Keys that are no longer live (overwritten by newer items, or never issued) are
        ignored; for duplicate keys the last priority wins. Items whose storage data is no
        longer valid get mass 0.

        Args:
            keys: ``[B]`` integer keys from :meth:`sample` (or :meth:`add`).
            priorities: ``[B]`` raw priorities ``|δ|``, finite and ``>= 0``.

        Raises:
            ValueError: if shapes mismatch or a priority is NaN, inf or negative; nothing
                is updated then.
        """
        k = np.asarray(keys)
        if k.ndim != 1 or (k.size and not np.issubdtype(k.dtype, np.integer)):
            raise ValueError(f"keys must be a 1-D integer array, got shape {k.shape} dtype {k.dtype}")
        p = _check_priorities(priorities, k.shape[0], "number of keys")
        k = k.astype(np.int64, copy=False)
        live = (k >= max(self._added - self._capacity, 0)) & (k < self._added)
        if not live.all():
            k = k[live]
            p = p[live]
        if k.size == 0:
            return
        slots = k % self._capacity
        leaf = (p + self._eps) ** self._alpha
        ok = self._storage.valid(slots)
        if not ok.all():
            leaf[~ok] = 0.0
        self._tree.update(slots, leaf)
        self._max_priority = max(self._max_priority, float(p.max()))

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Everything needed to continue exactly: ``(arrays, meta)``.

        ``arrays``: the storage's arrays (``storage.<name>``, filled slots only) and the sum
        tree's leaves ``priority_leaves`` ``[N]`` ``float64`` (``p_i^α``); ``meta`` (JSON-able):
        ``num_added``, ``max_priority``, ``importance_sampling_exponent`` and the sampling RNG's
        state. Arrays are views: write them out before the replay changes.
        """
        filled = len(self)
        arrays = {f"storage.{k}": v for k, v in self._storage.state_dict(filled).items()}  # type: ignore[attr-defined]
        arrays["priority_leaves"] = self._tree.get(np.arange(filled, dtype=np.int64))
        meta = {"num_added": self._added, "max_priority": self._max_priority, "capacity": self._capacity,
                "importance_sampling_exponent": self._beta, "rng": self._rng.bit_generator.state}
        return arrays, meta

    def load_state_dict(self, arrays: dict[str, Any], meta: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` into this (empty, same-shaped) replay.

        Raises:
            ValueError: a different capacity, arrays that do not fit the storage, priority leaves
                that are negative, non-finite or of the wrong length. The replay is unchanged
                when the check fails before any copy (shapes and values are checked first).
        """
        if int(meta.get("capacity", -1)) != self._capacity:
            raise ValueError(f"replay state has capacity {meta.get('capacity')!r}, this replay {self._capacity}"
                             " (--replay-capacity must match the checkpoint)")
        added = int(meta["num_added"])
        filled = min(added, self._capacity)
        leaves = np.asarray(arrays.get("priority_leaves"))
        if leaves.shape != (filled,) or leaves.dtype != np.float64 or not (
                np.isfinite(leaves).all() and (leaves >= 0).all()):
            raise ValueError(f"replay state priority_leaves: expected {filled} finite values >= 0, "
                             f"got shape {leaves.shape} {leaves.dtype}")
        storage_state = {k[len("storage."):]: v for k, v in arrays.items() if k.startswith("storage.")}
        if np.shape(storage_state.get("action", ()))[:1] != (filled,):
            raise ValueError(f"replay state holds a different number of items than num_added={added} implies")
        self._storage.load_state_dict(storage_state)  # type: ignore[attr-defined]
        self._tree.update(np.arange(filled, dtype=np.int64), leaves)
        self._added = added
        self._max_priority = float(meta["max_priority"])
        self._beta = _nonneg_float("importance_sampling_exponent", meta["importance_sampling_exponent"])
        self._rng.bit_generator.state = meta["rng"]

    def __repr__(self) -> str:
        return (
            f"PrioritizedReplay(size={len(self)}, capacity={self._capacity}, "
            f"alpha={self._alpha}, beta={self._beta}, eps={self._eps})"
        )
