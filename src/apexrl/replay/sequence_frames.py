"""R2D2 sequences of stacked pixel observations with every frame stored once (Atari).

A sequence of ``T + 1`` stacked observations ``[S, H, W]`` would take ``(T + 1)·S·H·W`` bytes
(121 × 28 KB for R2D2's Atari sequences), and overlapping sequences would hold each frame
``S·(T + 1)/P`` times. Instead:

* :class:`SequenceFrameAdder` (actor side) gives every observation of a stream a step id, sends
  the newest frame of each observation once (with the next sequences it emits) and emits
  :class:`SequenceFrames`: the sequences with step ids in place of observations.
* :class:`SequenceFrameStorage` (replay side) keeps the frames in an
  :class:`apexrl.replay.FrameStorage` (the frame ring with per-frame links to the previous frame
  of the same episode, the stream tables and the stack rebuild of Dopamine's circular buffer,
  written once for the n-step transitions) and gives each sequence ``T + 1`` slots of it, one per
  observation. ``read`` rebuilds the stacks, so the learner sees
  :class:`~apexrl.replay.sequence.SequenceItems` with full observations.

Memory per stored step (one new frame per agent step, one sequence every ``P`` steps): one frame
(``H·W + 4`` bytes) plus ``(32·(T + 1) + 17·T + 20 + 8·H_lstm)/P`` bytes of references and
sequence fields: about 7.45 KB for 84×84 frames, T = 120, P = 40, LSTM 512 (the frame ring holds 2% more
frames than the live sequences refer to).

Padding observations (before an episode's first step and after its last) refer to the nearest
real observation of the same sequence: their content is never used (masked steps; the state is
reset at the episode's first step).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from apexrl.replay._common import as_slots, check_arrays, positive_int, restore
from apexrl.replay.frame_storage import FrameStorage
from apexrl.replay.sequence import SequenceAdder, SequenceItems
from apexrl.types import FrameTransitions

__all__ = ["SequenceFrameAdder", "SequenceFrameStorage", "SequenceFrames"]


@dataclass(frozen=True)
class SequenceFrames:
    """``N`` sequences referring to frames by ``(stream, step)``, and ``F`` new frames.

    Fields: ``frames [F, H, W]`` ``uint8``, ``frame_stream [F]``, ``frame_step [F]`` ``int64``,
    ``frame_first [F]`` ``bool`` (an episode's first frame), as in
    :class:`apexrl.types.FrameTransitions`; ``stream [N]`` ``int64``; ``obs [N, T + 1]`` ``int64``
    step ids of the observations (their newest frames); the other fields as in
    :class:`~apexrl.replay.sequence.SequenceItems`.
    """

    frames: np.ndarray
    frame_stream: np.ndarray
    frame_step: np.ndarray
    frame_first: np.ndarray
    stream: np.ndarray
    obs: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    discount: np.ndarray
    mask: np.ndarray
    prev_action: np.ndarray
    prev_reward: np.ndarray
    first_step: np.ndarray
    state: np.ndarray

    def __len__(self) -> int:
        """Number of sequences ``N``."""
        return int(np.shape(self.action)[0])

    @classmethod
    def concat(cls, items: list[SequenceFrames]) -> SequenceFrames:
        """Concatenate containers (frames keep their order). Raises ValueError when empty."""
        if not items:
            raise ValueError("items must contain at least one SequenceFrames")
        if len(items) == 1:
            return items[0]
        return cls(*(np.concatenate([getattr(x, f.name) for x in items], axis=0) for f in fields(cls)))


    def tail(self, start: int) -> SequenceFrames:
        """The sequences ``start:`` with every frame of the message (later sequences may use them)."""
        frame_fields = ("frames", "frame_stream", "frame_step", "frame_first")
        return SequenceFrames(*(getattr(self, f.name) if f.name in frame_fields else getattr(self, f.name)[start:]
                                for f in fields(self)))


class SequenceFrameAdder:
    """The sequence adder of :mod:`apexrl.replay.sequence` for stacked frames ``[S, H, W]``.

    Args:
        num_envs: ``E``; env ``e`` is stream ``stream_offset + e``.
        lstm_size, burn_in, sequence_length, sequence_period: as
            :class:`~apexrl.replay.sequence.SequenceAdder`.
        stream_offset: the first stream id (:func:`apexrl.runtime.seeding.stream_offset`).
    """

    def __init__(self, num_envs: int, lstm_size: int, burn_in: int, sequence_length: int, sequence_period: int,
                 stream_offset: int = 0) -> None:
        self.ids = SequenceAdder(num_envs, (), np.int64, lstm_size, burn_in, sequence_length, sequence_period)
        self.num_envs = num_envs
        self.stream = stream_offset + np.arange(num_envs, dtype=np.int64)
        self._next_id = np.zeros(num_envs, dtype=np.int64)
        self._new_episode = np.ones(num_envs, dtype=bool)
        self._frames: list[np.ndarray] = []
        self._frame_meta: list[tuple[int, int, bool]] = []

    def add(self, obs: np.ndarray, actions: np.ndarray, reward: np.ndarray, next_obs: np.ndarray,
            terminated: np.ndarray, truncated: np.ndarray, q_taken: np.ndarray | None = None,
            next_value: np.ndarray | None = None,
            extras: dict[str, np.ndarray] | None = None) -> tuple[SequenceFrames, None]:
        """As :meth:`SequenceAdder.add` with ``obs`` / ``next_obs`` ``[E, S, H, W]`` ``uint8``; the
        frames not sent yet travel with the first sequences emitted after them."""
        done = np.asarray(terminated, dtype=bool) | np.asarray(truncated, dtype=bool)
        ids = self._next_id.copy()
        for e in range(self.num_envs):
            if self._new_episode[e]:
                self._push(obs[e][-1], int(self.stream[e]), int(ids[e]), True)
            self._push(next_obs[e][-1], int(self.stream[e]), int(ids[e]) + 1, False)
        seqs, _ = self.ids.add(ids, actions, reward, ids + 1, terminated, truncated, extras=extras)
        self._new_episode = done
        self._next_id = ids + np.where(done, 2, 1)
        if len(seqs) == 0:
            return self.empty(), None
        owner = self._owners(seqs)
        obs_ids = self._fill_padding(seqs)
        frames = np.stack(self._frames) if self._frames else np.zeros((0, *np.shape(obs)[2:]), np.uint8)
        meta = np.array(self._frame_meta, dtype=np.int64).reshape(-1, 3)
        self._frames, self._frame_meta = [], []
        out = SequenceFrames(frames=frames.astype(np.uint8, copy=False), frame_stream=meta[:, 0],
                             frame_step=meta[:, 1], frame_first=meta[:, 2].astype(bool), stream=owner, obs=obs_ids,
                             **{k: getattr(seqs, k) for k in ("action", "reward", "discount", "mask", "prev_action",
                                                              "prev_reward", "first_step", "state")})
        return out, None

    def _push(self, frame: np.ndarray, stream: int, step: int, first: bool) -> None:
        self._frames.append(np.asarray(frame, dtype=np.uint8))
        self._frame_meta.append((stream, step, first))

    def _owners(self, seqs: SequenceItems) -> np.ndarray:
        return np.repeat(self.stream, self.ids.last_counts)  # the inner adder emits env by env

    @staticmethod
    def _fill_padding(seqs: SequenceItems) -> np.ndarray:
        obs = seqs.obs.copy()
        t_len = seqs.mask.shape[1]
        for k in range(len(seqs)):
            real = np.flatnonzero(seqs.mask[k])
            lo, hi = int(real[0]), int(real[-1]) + 1  # obs[hi] is the bootstrap observation
            obs[k, :lo] = obs[k, lo]
            if hi < t_len:
                obs[k, hi + 1:] = obs[k, hi]
        return obs

    def empty(self) -> SequenceFrames:
        """A container of no sequence and no frame."""
        e = self.ids.empty()
        return SequenceFrames(frames=np.zeros((0, 1, 1), np.uint8), frame_stream=np.zeros(0, np.int64),
                              frame_step=np.zeros(0, np.int64), frame_first=np.zeros(0, bool),
                              stream=np.zeros(0, np.int64), obs=e.obs, action=e.action, reward=e.reward,
                              discount=e.discount, mask=e.mask, prev_action=e.prev_action, prev_reward=e.prev_reward,
                              first_step=e.first_step, state=e.state)


class SequenceFrameStorage:
    """Slot storage of :class:`SequenceFrames` over a :class:`~apexrl.replay.FrameStorage` with
    ``T + 1`` frame slots per sequence (see the module docstring).

    Args:
        capacity: sequences ``C``. length: ``T``. frame_shape: ``(H, W)``. stack_size: ``S``.
        lstm_size: ``H_lstm``. sequence_period: ``P`` (sizes the frame ring: about ``C·P`` frames
            are referenced by live sequences). frame_capacity: frames kept (default
            ``C·P + max(4096, C·P/50)``); sequences whose frames were evicted become invalid.

    Raises:
        ValueError: invalid sizes, naming the argument.
    """

    _FIELDS = ("action", "reward", "discount", "mask", "prev_action", "prev_reward", "first_step", "state")

    def __init__(self, capacity: int, length: int, frame_shape: tuple[int, int], stack_size: int, lstm_size: int,
                 sequence_period: int = 40, frame_capacity: int | None = None) -> None:
        self.capacity = positive_int("capacity", capacity)
        self.length = positive_int("length", length)
        self.lstm_size = positive_int("lstm_size", lstm_size)
        period = positive_int("sequence_period", sequence_period)
        if frame_capacity is None:
            frame_capacity = self.capacity * period + max(4096, self.capacity * period // 50)
        slots = self.capacity * (self.length + 1)
        self.frames = FrameStorage(slots, frame_shape, stack_size, frame_capacity=frame_capacity,
                                   stream_window=max(512, 2 * (self.length + 2)))
        c, t = self.capacity, self.length
        self.arrays = {"action": np.zeros((c, t), np.int64), "reward": np.zeros((c, t), np.float32),
                       "discount": np.zeros((c, t), np.float32), "mask": np.zeros((c, t), bool),
                       "prev_action": np.zeros(c, np.int64), "prev_reward": np.zeros(c, np.float32),
                       "first_step": np.zeros(c, np.int64), "state": np.zeros((c, 2, self.lstm_size), np.float32)}

    @staticmethod
    def bytes_needed(capacity: int, length: int, sequence_period: int, frame_shape: tuple[int, int], stack_size: int,
                     lstm_size: int) -> int:
        """Bytes allocated for these sizes with the default frame capacity."""
        fc = capacity * sequence_period + max(4096, capacity * sequence_period // 50)
        h, w = frame_shape
        return int(fc * (h * w + 4) + capacity * (length + 1) * 32 + capacity * (17 * length + 20 + 8 * lstm_size))

    @property
    def nbytes(self) -> int:
        """Bytes of the frame storage and the sequence arrays."""
        return int(self.frames.nbytes + sum(a.nbytes for a in self.arrays.values()))

    def _frame_slots(self, slots: np.ndarray) -> np.ndarray:
        return (slots[:, None] * (self.length + 1) + np.arange(self.length + 1)).reshape(-1)

    def write(self, slots: np.ndarray, items: SequenceFrames) -> np.ndarray:
        """Write the message's frames, then its sequences; ``[N]`` ``bool``: False for a sequence
        whose frames are gone (it takes its slot with mass 0).

        Raises:
            TypeError: ``items`` is not :class:`SequenceFrames`. ValueError: shapes that do not fit,
                or frames / references the frame storage refuses (nothing is written then).
        """
        if not isinstance(items, SequenceFrames):
            raise TypeError(f"SequenceFrameStorage stores SequenceFrames, got {type(items).__name__}")
        s = as_slots(slots, self.capacity)
        n, t1 = s.shape[0], self.length + 1
        obs = np.asarray(items.obs, dtype=np.int64)
        if obs.shape != (n, t1):
            raise ValueError(f"items.obs must have shape {(n, t1)}, got {obs.shape}")
        values = {k: np.asarray(getattr(items, k)) for k in self._FIELDS}
        for k, v in values.items():
            if v.shape != (n, *self.arrays[k].shape[1:]):
                raise ValueError(f"items.{k} must have shape {(n, *self.arrays[k].shape[1:])}, got {v.shape}")
        zeros = np.zeros(n * t1, np.float32)
        inner = FrameTransitions(frames=items.frames, frame_stream=items.frame_stream, frame_step=items.frame_step,
                                 frame_first=items.frame_first, stream=np.repeat(np.asarray(items.stream), t1),
                                 obs_step=obs.reshape(-1), next_step=obs.reshape(-1),
                                 action=np.zeros(n * t1, np.int64), reward=zeros, discount=zeros)
        ok = self.frames.write(self._frame_slots(s), inner).reshape(n, t1).all(axis=1)
        for k, v in values.items():
            self.arrays[k][s] = v
        return ok

    def valid(self, slots: np.ndarray) -> np.ndarray:
        """``[N]`` ``bool``: every frame of the sequence's stacks is still held."""
        s = np.asarray(slots, dtype=np.int64)
        return self.frames.valid(self._frame_slots(s)).reshape(len(s), self.length + 1).all(axis=1)

    def read(self, slots: np.ndarray) -> SequenceItems:
        """:class:`~apexrl.replay.sequence.SequenceItems` with the stacks rebuilt:
        ``obs [N, T + 1, S, H, W]`` ``uint8``."""
        s = np.asarray(slots, dtype=np.int64)
        stacks = self.frames.read(self._frame_slots(s)).obs
        obs = stacks.reshape(len(s), self.length + 1, *stacks.shape[1:])
        return SequenceItems(obs=obs, **{k: np.take(v, s, axis=0) for k, v in self.arrays.items()})

    def state_dict(self, filled: int) -> dict[str, np.ndarray]:
        """The frame storage's arrays (``frames.*``) and the first ``filled`` slots of the sequence arrays."""
        out = {f"frames.{k}": v for k, v in self.frames.state_dict(filled * (self.length + 1)).items()}
        out.update({k: v[:filled] for k, v in self.arrays.items()})
        return out

    def load_state_dict(self, state: dict[str, Any]) -> int:
        """Restore :meth:`state_dict`; returns the filled slots.

        Raises:
            ValueError: missing or ill-fitting arrays (checked before the sequence arrays are copied).
        """
        check_arrays(state, self._FIELDS)
        filled = int(np.shape(state["action"])[0])
        for k in self._FIELDS:
            restore(k, self.arrays[k], state[k], filled)
        self.frames.load_state_dict({k[len("frames."):]: v for k, v in state.items() if k.startswith("frames.")})
        for k in self._FIELDS:
            self.arrays[k][:filled] = state[k]
        return filled
