"""Actor-side sequence adder of R2D2 (Kapturowski et al. 2019, §2.3): fixed-length, overlapping
sequences of an episode with the actor's recurrent state at their first step.

Layout of one sequence (``B = burn_in``, ``m = sequence_length``, ``P = sequence_period``,
``T = B + m``): sequence ``k`` of an episode covers the episode's steps ``[kP − B, kP + m)``:
a burn-in prefix of ``B`` steps (unrolled by the learner without gradient) and ``m`` loss steps
``[kP, kP + m)``; consecutive sequences overlap by ``m − P`` loss steps (R2D2: m = 80, P = 40,
B = 40). It holds ``T + 1`` observations: the ``T`` steps' and the one after the last (the
bootstrap observation). A sequence never crosses an episode boundary: steps before the episode's
first step (the burn-in of sequence 0) and after its last are padding (``mask`` False, action
``−1``, reward 0); the observation after the episode's last step (its final observation, for a
time-limit truncation's bootstrap) is the sequence's observation right after its last real step.
An episode of ``L`` steps gives sequences ``k = 0 … ⌈L/P⌉ − 1``; every step is a loss step of
``m/P`` of them (the first ``m − P`` steps of an episode of fewer).

Items: :class:`SequenceItems` (a container of ``N`` sequences with ``__len__`` and ``concat``,
which :func:`apexrl.replay.num_items` / :func:`~apexrl.replay.concat_items` accept).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

__all__ = ["SequenceAdder", "SequenceItems"]


@dataclass(frozen=True)
class SequenceItems:
    """``N`` stored sequences of ``T`` steps (``T = burn_in + sequence_length``).

    Fields:
        obs: ``[N, T + 1, *obs_shape]`` the env's dtype: observations ``o_0 … o_T`` (padding zeros).
        action: ``[N, T]`` ``int64``: action taken at ``o_t``; ``−1`` on padding steps.
        reward: ``[N, T]`` ``float32``: reward after that action (0 on padding).
        discount: ``[N, T]`` ``float32``: 0 where the episode terminated after step ``t``, else 1.
        mask: ``[N, T]`` ``bool``: real steps (one contiguous block).
        prev_action: ``[N]`` ``int64``: the action before ``o_0`` (an input of the network), ``−1``
            when ``o_0`` is not preceded by a step of the same episode.
        prev_reward: ``[N]`` ``float32``: the reward before ``o_0`` (0 likewise).
        first_step: ``[N]`` ``int64``: index of the episode's first observation in the sequence
            (the learner resets the recurrent state there), ``−1`` when the episode began before.
        state: ``[N, 2, H]`` ``float32``: the actor's LSTM state ``(h, c)`` entering step 0 (zeros
            for a sequence that starts before its episode).
    """

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
    def concat(cls, items: list[SequenceItems]) -> SequenceItems:
        """Concatenate containers along the sequence axis.

        Raises:
            ValueError: ``items`` is empty.
        """
        if not items:
            raise ValueError("items must contain at least one SequenceItems")
        if len(items) == 1:
            return items[0]
        return cls(*(np.concatenate([getattr(x, f.name) for x in items], axis=0) for f in fields(cls)))

    def tail(self, start: int) -> SequenceItems:
        """The sequences ``start:`` (for a replay that keeps only the newest of a message)."""
        return SequenceItems(*(getattr(self, f.name)[start:] for f in fields(self)))

    def field_names(self) -> tuple[str, ...]:
        """The names of the arrays, in declaration order."""
        return tuple(f.name for f in fields(self))

    def take(self, rows: np.ndarray) -> SequenceItems:
        """The sequences at ``rows`` ``[K]`` (:func:`apexrl.replay.take_items`: the Ray backend's
        prefetching sampler splits its batches this way)."""
        return SequenceItems(*(np.take(getattr(self, f.name), rows, axis=0) for f in fields(self)))


def _check_int(name: str, flag: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"invalid {name}={value!r} ({flag}): must be an integer >= {low}")
    return int(value)


class SequenceAdder:
    """Cuts the steps of ``E`` environment streams into :class:`SequenceItems` (see the module
    docstring for the layout).

    Args:
        num_envs: ``E``.
        obs_shape, obs_dtype: one observation's shape and dtype.
        lstm_size: ``H`` of the stored state.
        burn_in: ``B >= 0``. sequence_length: ``m >= 1``. sequence_period: ``P`` in ``[1, m]``.

    :meth:`add` takes the recurrent state entering the step in ``extras["state"]`` ``[E, 2, H]``
    (what :class:`apexrl.agents.r2d2.policy.R2D2Policy` returns in ``PolicyStep.extras``).

    Raises:
        ValueError: invalid sizes, naming the flag.
    """

    def __init__(self, num_envs: int, obs_shape: tuple[int, ...], obs_dtype: Any, lstm_size: int, burn_in: int,
                 sequence_length: int, sequence_period: int) -> None:
        self.num_envs = _check_int("num_envs", "--envs-per-actor", num_envs, 1)
        self.burn_in = _check_int("burn_in", "--burn-in", burn_in, 0)
        self.sequence_length = _check_int("sequence_length", "--sequence-length", sequence_length, 1)
        self.sequence_period = _check_int("sequence_period", "--sequence-period", sequence_period, 1)
        if self.sequence_period > self.sequence_length:
            raise ValueError(f"invalid sequence_period={sequence_period} (--sequence-period): must be <= "
                             f"sequence_length={sequence_length}")
        self.lstm_size = _check_int("lstm_size", "--lstm-size", lstm_size, 1)
        self.obs_shape = tuple(int(d) for d in obs_shape)
        self.obs_dtype = np.dtype(obs_dtype)
        self.length = self.burn_in + self.sequence_length  # T
        self.reset()

    def reset(self) -> None:
        """Forget every stream's partial episode."""
        self._steps = [0] * self.num_envs  # steps of the current episode added so far (L)
        # per env: the last T + 1 steps as (obs, action, reward, discount, state)
        self._buf: list[deque] = [deque(maxlen=self.length + 1) for _ in range(self.num_envs)]
        self.last_counts = np.zeros(self.num_envs, dtype=np.int64)

    def add(self, obs: np.ndarray, actions: np.ndarray, reward: np.ndarray, next_obs: np.ndarray,
            terminated: np.ndarray, truncated: np.ndarray, q_taken: np.ndarray | None = None,
            next_value: np.ndarray | None = None,
            extras: dict[str, np.ndarray] | None = None) -> tuple[SequenceItems, None]:
        """Add one step of every env; return the sequences completed by it.

        Args:
            obs: ``[E, *obs_shape]`` observations the actions were taken in.
            actions: ``[E]`` integer actions. reward: ``[E]`` float rewards.
            next_obs: ``[E, *obs_shape]`` next observations (the final one where an episode ended).
            terminated, truncated: ``[E]`` bool episode ends.
            q_taken, next_value: ignored (sequences enter the replay at its maximum priority).
            extras: ``{"state": [E, 2, H] float32}``, the LSTM state entering this step.

        Returns: ``(items, None)``: :class:`SequenceItems` with 0 or more sequences, env by env in
        order (:attr:`last_counts` ``[E]``: how many of each env).

        Raises:
            ValueError: ``extras`` lacks ``state`` or has the wrong shape.
        """
        del q_taken, next_value
        state = None if extras is None else extras.get("state")
        if state is None or np.shape(state) != (self.num_envs, 2, self.lstm_size):
            raise ValueError(f"SequenceAdder.add needs extras['state'] of shape {(self.num_envs, 2, self.lstm_size)} "
                             f"(the policy's LSTM state entering the step), got "
                             f"{None if state is None else np.shape(state)}")
        done = np.asarray(terminated, dtype=bool) | np.asarray(truncated, dtype=bool)
        out: list[SequenceItems] = []
        counts = np.zeros(self.num_envs, dtype=np.int64)
        m, p = self.sequence_length, self.sequence_period
        for e in range(self.num_envs):
            self._buf[e].append((np.array(obs[e], dtype=self.obs_dtype), int(actions[e]), float(reward[e]),
                                 0.0 if terminated[e] else 1.0, np.asarray(state[e], dtype=np.float32)))
            self._steps[e] += 1
            n = self._steps[e]
            starts: list[int] = []
            if n >= m and (n - m) % p == 0:
                starts.append(n - m)  # a full sequence ends at this step
            if done[e]:
                first = 0 if n < m else ((n - m) // p + 1) * p  # loss starts not emitted in full
                starts += list(range(first, n, p))
            for loss_start in starts:
                out.append(self._sequence(e, loss_start - self.burn_in, next_obs[e]))
            counts[e] = len(starts)
            if done[e]:
                self._steps[e] = 0
                self._buf[e].clear()
        self.last_counts = counts
        return (SequenceItems.concat(out) if out else self.empty()), None

    def _sequence(self, e: int, start: int, bootstrap_obs: np.ndarray) -> SequenceItems:
        t_len, n, buf = self.length, self._steps[e], self._buf[e]
        offset = n - len(buf)  # episode step of buf[0]
        obs = np.zeros((1, t_len + 1, *self.obs_shape), dtype=self.obs_dtype)
        action = np.full((1, t_len), -1, dtype=np.int64)
        reward = np.zeros((1, t_len), dtype=np.float32)
        discount = np.ones((1, t_len), dtype=np.float32)
        mask = np.zeros((1, t_len), dtype=bool)
        lo, hi = max(start, 0), min(start + t_len, n)
        for step in range(lo, hi):
            o, a, r, d, _ = buf[step - offset]
            i = step - start
            obs[0, i], action[0, i], reward[0, i], discount[0, i], mask[0, i] = o, a, r, d, True
        obs[0, hi - start] = bootstrap_obs  # the observation after the last real step
        if start >= 0:
            state = buf[start - offset][4][None]
        else:
            state = np.zeros((1, 2, self.lstm_size), dtype=np.float32)
        if start >= 1:
            _, pa, pr, _, _ = buf[start - 1 - offset]
        else:
            pa, pr = -1, 0.0
        return SequenceItems(obs=obs, action=action, reward=reward, discount=discount, mask=mask,
                             prev_action=np.array([pa], dtype=np.int64), prev_reward=np.array([pr], dtype=np.float32),
                             first_step=np.array([-start if start <= 0 else -1], dtype=np.int64), state=state)

    def empty(self) -> SequenceItems:
        """A container of no sequence (with this adder's shapes)."""
        t_len = self.length
        return SequenceItems(obs=np.zeros((0, t_len + 1, *self.obs_shape), dtype=self.obs_dtype),
                             action=np.zeros((0, t_len), dtype=np.int64), reward=np.zeros((0, t_len), np.float32),
                             discount=np.zeros((0, t_len), np.float32), mask=np.zeros((0, t_len), bool),
                             prev_action=np.zeros(0, np.int64), prev_reward=np.zeros(0, np.float32),
                             first_step=np.zeros(0, np.int64), state=np.zeros((0, 2, self.lstm_size), np.float32))
