"""Batch-wise binary sum tree for proportional prioritized replay.

The sum tree is the data structure of Schaul et al. 2016 ("Prioritized Experience
Replay", appendix B.2.1): every internal node holds the sum of its two children, so the
total is read in O(1) and a prefix-sum search ("which leaf does the mass ``u`` fall in")
takes O(log N). Ape-X (Horgan et al. 2018) samples and updates priorities in batches, so
every operation here is batch-wise and the loops run in Numba-compiled code.

Layout: a ``float64`` array of ``2 * size`` entries where ``size`` is the next power of
two ``>= capacity``; node ``1`` is the root, node ``i`` has children ``2i`` and ``2i+1``
and leaf ``j`` lives at ``size + j`` (entry ``0`` is unused). Leaves ``capacity..size-1``
stay ``0`` forever.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["SumTree"]


@njit(cache=True)
def _update(tree: np.ndarray, size: int, indices: np.ndarray, values: np.ndarray) -> None:
    """Set leaves then recompute every touched ancestor from its two children.

    Leaves are written in order (so for duplicate indices the last occurrence wins), then
    the touched nodes are recomputed level by level, bottom up: the nodes of a level are
    sorted and de-duplicated, so a shared ancestor is recomputed once, after all of its
    descendants, and always as ``left + right`` (never by adding deltas). The tree is thus
    exactly consistent whatever the duplicates.
    """
    n = indices.shape[0]
    if n == 0:
        return
    nodes = np.empty(n, dtype=np.int64)
    for j in range(n):
        leaf = size + indices[j]
        tree[leaf] = values[j]
        nodes[j] = leaf
    nodes.sort()
    m = n
    while True:
        # Parents of the current level, de-duplicated in place (input is sorted).
        k = 0
        last = -1
        for j in range(m):
            p = nodes[j] >> 1
            if p != last:
                nodes[k] = p
                k += 1
                last = p
        m = k
        if nodes[0] == 0:  # parent of the root: done
            break
        for j in range(m):
            p = nodes[j]
            tree[p] = tree[2 * p] + tree[2 * p + 1]
        if m == 1 and nodes[0] == 1:
            break


@njit(cache=True)
def _find_prefixsum(tree: np.ndarray, size: int, targets: np.ndarray, out: np.ndarray) -> None:
    """Descend from the root for all targets; see :meth:`SumTree.find_prefixsum`.

    At each node go left when ``u < left`` (strict, so zero-mass leaves are skipped) or when
    the right subtree has no mass at all (rounding guard: ``u`` may exceed the left sum by a
    few ulps although all the mass is on the left). Invariant: the current node has positive
    mass, so the leaf reached is positive. ``u`` stays ``>= 0`` because ``u - left`` is only
    taken when ``u >= left`` (exact in IEEE arithmetic).

    The descent is level-synchronous (all targets advance one level, then the next): the
    loads of different targets are independent, so the CPU overlaps their cache misses
    (about 1.5x faster than one target at a time on a 2**20-leaf tree).
    """
    b = targets.shape[0]
    node = np.ones(b, dtype=np.int64)
    u = np.empty(b, dtype=np.float64)
    for j in range(b):
        u[j] = max(targets[j], 0.0)
    level = 1
    while level < size:
        for j in range(b):
            left = 2 * node[j]
            lv = tree[left]
            uj = u[j]
            if uj < lv or tree[left + 1] <= 0.0:
                node[j] = left
            else:
                u[j] = uj - lv
                node[j] = left + 1
        level *= 2
    for j in range(b):
        out[j] = node[j] - size


class SumTree:
    """Binary sum tree over ``capacity`` non-negative ``float64`` leaves.

    Used by :class:`apexrl.replay.PrioritizedReplay` to store ``p_i^α`` and to sample
    proportionally to it (Schaul et al. 2016, "Prioritized Experience Replay", §3.3 and
    appendix B.2.1). All methods are batch-wise; the loops are Numba-compiled.

    Args:
        capacity: number of leaves (``>= 1``). The internal size is the next power of two.

    Raises:
        ValueError: if ``capacity`` is not a positive integer.
    """

    def __init__(self, capacity: int) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)) or capacity < 1:
            raise ValueError(f"capacity must be a positive integer, got {capacity!r}")
        self._capacity = int(capacity)
        self._size = 1 << (self._capacity - 1).bit_length()
        self._tree = np.zeros(2 * self._size, dtype=np.float64)

    @property
    def capacity(self) -> int:
        """Number of leaves."""
        return self._capacity

    @property
    def total(self) -> float:
        """Sum of all leaves (the root), as a Python ``float``."""
        return float(self._tree[1])

    @property
    def nbytes(self) -> int:
        """Bytes allocated by the tree array (``16 * next_pow2(capacity)``)."""
        return int(self._tree.nbytes)

    def _check_indices(self, indices: np.ndarray) -> np.ndarray:
        idx = np.ascontiguousarray(indices, dtype=np.int64)
        if idx.ndim != 1:
            raise ValueError(f"indices must be 1-D, got shape {idx.shape}")
        if idx.size and (idx.min() < 0 or idx.max() >= self._capacity):
            raise ValueError(
                f"indices must lie in [0, {self._capacity}), got range "
                f"[{idx.min()}, {idx.max()}]"
            )
        return idx

    def update(self, indices: np.ndarray, values: np.ndarray) -> None:
        """Set leaves ``indices`` to ``values``; for duplicate indices the last one wins.

        Args:
            indices: ``[B]`` integer leaf indices in ``[0, capacity)`` (cast to ``int64``).
            values: ``[B]`` finite non-negative values (cast to ``float64``), or a scalar
                broadcast to ``[B]``.

        Raises:
            ValueError: on out-of-range indices, mismatched shapes, or negative / non-finite
                values (nothing is modified then).
        """
        idx = self._check_indices(indices)
        vals = np.ascontiguousarray(np.broadcast_to(np.asarray(values, dtype=np.float64), idx.shape))
        if vals.size and not (np.isfinite(vals).all() and vals.min() >= 0.0):
            raise ValueError("values must be finite and >= 0")
        _update(self._tree, self._size, idx, vals)

    def get(self, indices: np.ndarray) -> np.ndarray:
        """Leaf values.

        Args:
            indices: ``[B]`` integer leaf indices in ``[0, capacity)``.

        Returns:
            ``[B]`` ``float64`` leaf values.

        Raises:
            ValueError: on out-of-range indices.
        """
        idx = self._check_indices(indices)
        return self._tree[self._size + idx]

    def find_prefixsum(self, targets: np.ndarray) -> np.ndarray:
        """For each mass ``u`` the smallest leaf ``i`` with ``cumsum[i] > u``.

        Equivalent to ``np.searchsorted(np.cumsum(leaves), u, side="right")`` up to
        floating-point rounding, with a guard: a leaf of value ``0`` is never returned. A
        target ``>= total`` (e.g. from rounding) gives the last positive leaf; a negative
        one gives the first positive leaf.

        Args:
            targets: ``[B]`` finite masses, nominally in ``[0, total)`` (cast to ``float64``).

        Returns:
            ``[B]`` ``int64`` leaf indices, each with a positive value.

        Raises:
            ValueError: if the tree total is ``0`` or a target is not finite.
        """
        t = np.ascontiguousarray(targets, dtype=np.float64)
        if t.ndim != 1:
            raise ValueError(f"targets must be 1-D, got shape {t.shape}")
        if not self._tree[1] > 0.0:
            raise ValueError("cannot search a sum tree whose total is 0")
        if t.size and not np.isfinite(t).all():
            raise ValueError("targets must be finite")
        out = np.empty(t.shape[0], dtype=np.int64)
        _find_prefixsum(self._tree, self._size, t, out)
        return out

    def __repr__(self) -> str:
        return f"SumTree(capacity={self._capacity}, total={self.total})"
