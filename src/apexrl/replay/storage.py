"""Fixed-capacity slot storages behind :class:`apexrl.replay.PrioritizedReplay`.

A storage holds ``capacity`` transitions addressed by slot ``0..capacity-1``; the replay
decides which slot each item goes to (FIFO ring, Horgan et al. 2018 "Distributed
Prioritized Experience Replay") and keeps the priorities. Every storage has the same
interface:

* ``capacity: int``
* ``write(slots, items) -> mask``: store item ``j`` at ``slots[j]``; ``mask[j]`` says
  whether it was stored. Validation happens before anything is modified.
* ``read(slots) -> Transitions``: gather a batch (vectorised NumPy indexing).
* ``valid(slots) -> mask``: whether the data behind each slot can still be read.
* ``nbytes: int``: bytes allocated.

:class:`ArrayStorage` stores whole observations; :class:`FrameStorage` stores each
pixel frame once and rebuilds frame stacks at read time (the trick of Dopamine's
circular replay buffer, Castro et al. 2018).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from apexrl.replay._common import (
    action_dtype_arg,
    as_slots,
    check_arrays,
    check_saved_actions,
    dtype_arg,
    field,
    positive_int,
    restore,
    shape_arg,
)
from apexrl.replay.frame_storage import FrameStorage  # re-exported: apexrl.replay.storage.FrameStorage
from apexrl.types import Transitions

__all__ = ["ArrayStorage", "FrameStorage"]


class ArrayStorage:
    """Plain preallocated arrays, one row per slot (vector / MinAtar observations).

    Arrays (``C = capacity``): ``obs`` and ``next_obs`` ``[C, *obs_shape]`` of ``obs_dtype``,
    ``action`` ``[C, *action_shape]`` of ``action_dtype``, ``reward`` ``[C]`` ``float32``,
    ``discount`` ``[C]`` ``float32`` — the fields of :class:`apexrl.types.Transitions`.

    Args:
        capacity: number of slots (``>= 1``).
        obs_shape: shape of one observation, e.g. ``(4,)`` for CartPole.
        obs_dtype: observation dtype, e.g. ``np.float32`` or ``np.uint8``.
        action_shape: shape of one action: ``()`` for a ``Discrete`` index (the default),
            ``(d,)`` for a ``Box`` action vector.
        action_dtype: ``int64`` for ``Discrete`` (the default), ``float32`` for ``Box``.

    Raises:
        ValueError: if ``capacity`` is not a positive integer, ``obs_shape`` or
            ``action_shape`` has a negative entry, ``obs_dtype`` is not a NumPy dtype or
            ``action_dtype`` not an integer or floating one (naming the argument).
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: np.dtype | type,
        action_shape: tuple[int, ...] = (),
        action_dtype: np.dtype | type = np.int64,
    ) -> None:
        self.capacity = positive_int("capacity", capacity)
        self.obs_shape = shape_arg("obs_shape", obs_shape)
        self.obs_dtype = dtype_arg("obs_dtype", obs_dtype)
        self.action_shape = shape_arg("action_shape", action_shape)
        self.action_dtype = action_dtype_arg(action_dtype)
        c = self.capacity
        self.obs = np.zeros((c, *self.obs_shape), dtype=self.obs_dtype)
        self.next_obs = np.zeros((c, *self.obs_shape), dtype=self.obs_dtype)
        self.action = np.zeros((c, *self.action_shape), dtype=self.action_dtype)
        self.reward = np.zeros(c, dtype=np.float32)
        self.discount = np.zeros(c, dtype=np.float32)

    @property
    def nbytes(self) -> int:
        """Bytes of all arrays."""
        return int(
            self.obs.nbytes + self.next_obs.nbytes + self.action.nbytes
            + self.reward.nbytes + self.discount.nbytes
        )

    def write(self, slots: np.ndarray, items: Transitions) -> np.ndarray:
        """Store ``items[j]`` at ``slots[j]``.

        Args:
            slots: ``[B]`` distinct integer slots in ``[0, capacity)``.
            items: :class:`Transitions` with ``B`` items; values are cast to the storage
                dtypes.

        Returns:
            ``[B]`` ``bool`` mask of stored items: all ``True``.

        Raises:
            TypeError: if ``items`` is not a :class:`Transitions`.
            ValueError: on shape mismatches or out-of-range slots (nothing is written).
        """
        if not isinstance(items, Transitions):
            raise TypeError(f"ArrayStorage stores Transitions, got {type(items).__name__}")
        s = as_slots(slots, self.capacity)
        n = s.shape[0]
        obs = field(items, "obs", n, self.obs_shape)
        next_obs = field(items, "next_obs", n, self.obs_shape)
        action = field(items, "action", n, self.action_shape)
        reward = field(items, "reward", n)
        discount = field(items, "discount", n)
        self.obs[s] = obs
        self.next_obs[s] = next_obs
        self.action[s] = action
        self.reward[s] = reward
        self.discount[s] = discount
        return np.ones(n, dtype=bool)

    def read(self, slots: np.ndarray) -> Transitions:
        """Gather slots (copies).

        Args:
            slots: ``[B]`` integer slots in ``[0, capacity)``.

        Returns:
            :class:`Transitions` with ``B`` items (obs ``[B, *obs_shape]``, action
            ``[B, *action_shape]`` ``action_dtype``).
        """
        s = np.asarray(slots, dtype=np.int64)
        return Transitions(
            obs=np.take(self.obs, s, axis=0),
            action=np.take(self.action, s, axis=0),
            reward=np.take(self.reward, s),
            discount=np.take(self.discount, s),
            next_obs=np.take(self.next_obs, s, axis=0),
        )

    _FIELDS = ("obs", "next_obs", "action", "reward", "discount")

    def state_dict(self, filled: int) -> dict[str, np.ndarray]:
        """The first ``filled`` slots of every array (views, not copies), for checkpoints.

        Args:
            filled: slots in use, ``min(items added, capacity)`` (slots fill from 0).
        """
        return {name: getattr(self, name)[:filled] for name in self._FIELDS}

    def load_state_dict(self, state: dict[str, Any]) -> int:
        """Restore arrays written by :meth:`state_dict`; returns the number of filled slots.

        Raises:
            ValueError: a missing array or one whose dtype, shape or length does not fit this
                storage (checked for every array before anything is copied); for actions of
                another shape or dtype than ``action_shape``/``action_dtype``, naming both.
        """
        check_arrays(state, self._FIELDS)
        check_saved_actions(state["action"], self.action_shape, self.action_dtype)
        filled = int(np.shape(state["action"])[0])
        for name in self._FIELDS:
            restore(name, getattr(self, name), state[name], filled)
        for name in self._FIELDS:
            getattr(self, name)[:filled] = state[name]
        return filled

    def valid(self, slots: np.ndarray) -> np.ndarray:
        """``[B]`` ``bool``: always ``True`` (whole observations never go stale)."""
        return np.ones(np.shape(slots)[0], dtype=bool)

    def __repr__(self) -> str:
        return (
            f"ArrayStorage(capacity={self.capacity}, obs_shape={self.obs_shape}, "
            f"obs_dtype={self.obs_dtype}, action_shape={self.action_shape}, "
            f"action_dtype={self.action_dtype})"
        )
