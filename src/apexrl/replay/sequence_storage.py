"""Slot storage of R2D2 sequences behind :class:`apexrl.replay.PrioritizedReplay` (one slot = one
sequence, with its per-sequence priority in the replay's sum tree).

:class:`SequenceStorage` holds whole observations (vector and MinAtar observations); pixel
observations use :class:`apexrl.replay.sequence_frames.SequenceFrameStorage`, which stores each
frame once. Both have the storage interface of :mod:`apexrl.replay.storage` (``capacity``,
``write``, ``read``, ``valid``, ``nbytes``, ``state_dict``, ``load_state_dict``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from apexrl.replay._common import as_slots, check_arrays, dtype_arg, field, positive_int, restore, shape_arg
from apexrl.replay.sequence import SequenceItems

__all__ = ["SequenceStorage"]


class SequenceStorage:
    """Preallocated arrays of ``C = capacity`` sequences of ``T`` steps, the fields of
    :class:`~apexrl.replay.sequence.SequenceItems` (``obs [C, T+1, *obs_shape]``, ``action [C, T]``
    ``int64``, ``reward``/``discount [C, T]`` ``float32``, ``mask [C, T]`` ``bool``, ``prev_action
    [C]``, ``prev_reward [C]``, ``first_step [C]``, ``state [C, 2, H]`` ``float32``).

    Args:
        capacity: sequences kept (``>= 1``). length: ``T`` (burn-in + sequence length).
        obs_shape, obs_dtype: one observation. lstm_size: ``H``.

    Raises:
        ValueError: a non-positive size or an invalid shape / dtype, naming the argument.
    """

    _FIELDS = ("obs", "action", "reward", "discount", "mask", "prev_action", "prev_reward", "first_step", "state")

    def __init__(self, capacity: int, length: int, obs_shape: tuple[int, ...], obs_dtype: Any, lstm_size: int) -> None:
        self.capacity = positive_int("capacity", capacity)
        self.length = positive_int("length", length)
        self.lstm_size = positive_int("lstm_size", lstm_size)
        self.obs_shape = shape_arg("obs_shape", obs_shape)
        self.obs_dtype = dtype_arg("obs_dtype", obs_dtype)
        c, t = self.capacity, self.length
        self.arrays = {
            "obs": np.zeros((c, t + 1, *self.obs_shape), dtype=self.obs_dtype),
            "action": np.zeros((c, t), dtype=np.int64),
            "reward": np.zeros((c, t), dtype=np.float32),
            "discount": np.zeros((c, t), dtype=np.float32),
            "mask": np.zeros((c, t), dtype=bool),
            "prev_action": np.zeros(c, dtype=np.int64),
            "prev_reward": np.zeros(c, dtype=np.float32),
            "first_step": np.zeros(c, dtype=np.int64),
            "state": np.zeros((c, 2, self.lstm_size), dtype=np.float32),
        }

    @staticmethod
    def bytes_needed(capacity: int, length: int, obs_shape: tuple[int, ...], obs_dtype: Any, lstm_size: int) -> int:
        """Bytes :class:`SequenceStorage` allocates for these sizes (checked before allocating)."""
        obs = int(np.prod(obs_shape, dtype=np.int64)) * np.dtype(obs_dtype).itemsize
        per = (length + 1) * obs + length * (8 + 4 + 4 + 1) + 8 + 4 + 8 + 2 * lstm_size * 4
        return int(capacity) * per

    @property
    def nbytes(self) -> int:
        """Bytes of all arrays."""
        return int(sum(a.nbytes for a in self.arrays.values()))

    def _tails(self) -> dict[str, tuple[int, ...]]:
        return {k: v.shape[1:] for k, v in self.arrays.items()}

    def write(self, slots: np.ndarray, items: SequenceItems) -> np.ndarray:
        """Store sequence ``j`` at ``slots[j]``; returns ``[N]`` ``bool`` all True.

        Raises:
            TypeError: ``items`` is not a :class:`SequenceItems`.
            ValueError: shapes that do not fit, or out-of-range slots (nothing is written).
        """
        if not isinstance(items, SequenceItems):
            raise TypeError(f"SequenceStorage stores SequenceItems, got {type(items).__name__}")
        s = as_slots(slots, self.capacity)
        n = s.shape[0]
        values = {k: field(items, k, n, tail) for k, tail in self._tails().items()}
        for k, v in values.items():
            self.arrays[k][s] = v
        return np.ones(n, dtype=bool)

    def read(self, slots: np.ndarray) -> SequenceItems:
        """Gather sequences (copies): :class:`SequenceItems` of ``len(slots)`` sequences."""
        s = np.asarray(slots, dtype=np.int64)
        return SequenceItems(**{k: np.take(v, s, axis=0) for k, v in self.arrays.items()})

    def valid(self, slots: np.ndarray) -> np.ndarray:
        """``[N]`` ``bool``: always True (whole observations never go stale)."""
        return np.ones(np.shape(slots)[0], dtype=bool)

    def state_dict(self, filled: int) -> dict[str, np.ndarray]:
        """The first ``filled`` slots of every array (views), for checkpoints."""
        return {k: v[:filled] for k, v in self.arrays.items()}

    def load_state_dict(self, state: dict[str, Any]) -> int:
        """Restore :meth:`state_dict`; returns the filled slots.

        Raises:
            ValueError: a missing array or one of another dtype, row shape or length (all checked
                before anything is copied).
        """
        check_arrays(state, self._FIELDS)
        filled = int(np.shape(state["action"])[0])
        for k in self._FIELDS:
            restore(k, self.arrays[k], state[k], filled)
        for k in self._FIELDS:
            self.arrays[k][:filled] = state[k]
        return filled

    def __repr__(self) -> str:
        return (f"SequenceStorage(capacity={self.capacity}, length={self.length}, obs_shape={self.obs_shape}, "
                f"obs_dtype={self.obs_dtype}, lstm_size={self.lstm_size})")
