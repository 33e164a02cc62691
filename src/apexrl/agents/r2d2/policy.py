"""R2D2's acting side (Kapturowski et al. 2019, §2.3): ε-greedy actors whose LSTM state is kept
across steps and reset at episode ends, the evaluation policy with the same state handling, and
the builder functions of the agent record.

The state machine of one actor (``E`` environments), for the actor loop's order ``step(obs_t) →
env.step → observe(r_t, done_t) → step(obs_{t+1})``:

* :meth:`RecurrentActing.q_step` feeds ``(o_t, one_hot(a_{t−1}), r_{t−1})`` and the state entering
  step ``t`` to the network, keeps the new state and returns the Q-values and the entering state
  (which the sequence adder stores for a sequence starting at ``t``);
* :meth:`RecurrentActing.observe` records ``r_t`` as the next step's reward input and, for an env
  whose episode ended, zeroes its state and its previous action / reward.

Exploration: environment instance ``i`` of the ``M = N·E`` of the run explores with
ε_i = 0.4^(1 + 7·i/(M−1)) (:func:`apexrl.agents.exploration.environment_epsilons`, the rule of
``apex-dqn``; R2D2 and SEED RL give each environment its own ε).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from apexrl.agents.base import PolicyStep
from apexrl.agents.exploration import EpsilonSchedule, epsilon_greedy

__all__ = ["R2D2Greedy", "R2D2Policy", "RecurrentActing", "build_adder", "build_greedy", "build_learner",
           "build_network", "build_policy", "build_replay", "greedy_actions"]


class RecurrentActing:
    """The recurrent state of ``E`` environments acting with a
    :class:`~apexrl.nets.recurrent.RecurrentQNetwork`.

    Attributes:
        state: ``[E, 2, H]`` float32 ``(h, c)`` entering the next step.
        prev_action: ``[E]`` int64 previous action (−1: none, at an episode's first step).
        prev_reward: ``[E]`` float32 previous reward (0 at an episode's first step).
    """

    def __init__(self, network: Any, num_envs: int) -> None:
        self.network = network
        self.num_envs = int(num_envs)
        self.reset()

    def reset(self) -> None:
        """Zero every env's state and previous action / reward."""
        self.state = np.zeros((self.num_envs, 2, self.network.lstm_size), dtype=np.float32)
        self.prev_action = np.full(self.num_envs, -1, dtype=np.int64)
        self.prev_reward = np.zeros(self.num_envs, dtype=np.float32)

    def q_step(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One step of every env: ``(q [E, A] float32, state entering the step [E, 2, H])``; the new
        state is kept. ``obs``: ``[E, *obs_shape]``."""
        import torch

        entering = self.state
        with torch.inference_mode():
            o = torch.from_numpy(np.ascontiguousarray(obs)).unsqueeze(1)
            pa = torch.from_numpy(self.prev_action).unsqueeze(1)
            pr = torch.from_numpy(self.prev_reward).unsqueeze(1)
            s = torch.from_numpy(entering)
            q, (h, c) = self.network(o, pa, pr, (s[:, 0], s[:, 1]))
            self.state = torch.stack([h, c], dim=1).numpy().astype(np.float32, copy=True)
        return q[:, 0].numpy(), entering

    def observe(self, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray) -> None:
        """After ``env.step``: ``reward [E]`` becomes the next reward input; envs whose episode ended
        (``terminated | truncated``, ``[E]`` bool) start the next one from the zero state."""
        self.prev_reward = np.asarray(reward, dtype=np.float32).copy()
        done = np.asarray(terminated, dtype=bool) | np.asarray(truncated, dtype=bool)
        if done.any():
            self.state[done] = 0.0
            self.prev_action[done] = -1
            self.prev_reward[done] = 0.0


class R2D2Policy(RecurrentActing):
    """ε-greedy recurrent actor policy of actor ``index`` (:class:`apexrl.agents.base.ActorPolicy`).

    ``step`` returns ``extras = {"state": [E, 2, H]}``, the state entering the step, for the
    sequence adder; no ``q_taken`` (sequences enter the replay at its maximum priority).
    """

    def __init__(self, config: Any, network: Any, index: int, rng: np.random.Generator) -> None:
        acfg = config.actor
        network.eval()
        super().__init__(network, acfg.envs_per_actor)
        self.rng = rng
        self.schedule = EpsilonSchedule(config, index)
        self.epsilon = self.schedule.at(0)

    def step(self, obs: np.ndarray) -> PolicyStep:
        """ε-greedy actions ``[E]`` int64 on ``obs [E, *obs_shape]``; the actions become the next
        step's previous-action inputs."""
        q, entering = self.q_step(obs)
        actions = epsilon_greedy(q, self.epsilon, self.rng)
        self.prev_action = actions.copy()
        return PolicyStep(actions, actions, extras={"state": entering})

    def value(self, obs: np.ndarray) -> np.ndarray:
        """``max_a Q`` ``[K]`` float32 from the zero state (unused: this policy gives no values)."""
        greedy = RecurrentActing(self.network, len(obs))
        q, _ = greedy.q_step(obs)
        return q.max(axis=1).astype(np.float32)

    def advance(self, frames: int) -> None:
        """Continue the optional ε decay at the actor's ``frames`` emulator frames."""
        if self.schedule.decay_frames > 0:
            self.epsilon = self.schedule.at(frames)


class R2D2Greedy(RecurrentActing):
    """The evaluation policy of ``num_envs`` envs: ε-greedy (Ape-X's ε = 0.001) with the LSTM
    state carried through each episode (the ``Agent.build_greedy`` hook)."""

    def act(self, obs: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
        """Actions ``[E]`` int64; one uniform draw per env whatever ``epsilon`` is."""
        q, _ = self.q_step(obs)
        actions = q.argmax(axis=1).astype(np.int64)
        explore = rng.random(len(actions)) < epsilon
        actions[explore] = rng.integers(0, q.shape[1], size=int(explore.sum()))
        self.prev_action = actions.copy()
        return actions


def build_network(config: Any, info: Any) -> Any:
    """The :class:`~apexrl.nets.recurrent.RecurrentQNetwork` of ``config.learner`` for ``info``."""
    from apexrl.nets.recurrent import build_recurrent_q_network

    lcfg = config.learner
    return build_recurrent_q_network(info.kind, info.obs_shape, int(info.num_actions), lcfg.hidden_sizes,
                                     lcfg.lstm_size, lcfg.head_hidden, info.observation_space)


def build_policy(config: Any, info: Any, network: Any, index: int, rng: np.random.Generator) -> R2D2Policy:
    """The ε-greedy recurrent policy of actor ``index``."""
    return R2D2Policy(config, network, index, rng)


def build_learner(config: Any, info: Any, seed: int, device: Any) -> Any:
    """An :class:`apexrl.agents.r2d2.learner.R2D2Learner` on ``device``."""
    from apexrl.agents.r2d2.learner import R2D2Learner

    return R2D2Learner(config, info, seed=seed, device=device)


def build_greedy(network: Any, num_envs: int) -> R2D2Greedy:
    """The stateful evaluation policy of ``num_envs`` envs."""
    return R2D2Greedy(network, num_envs)


def greedy_actions(network: Any, obs: np.ndarray, action_space: Any, epsilon: float,
                   rng: np.random.Generator) -> np.ndarray:
    """Stateless ε-greedy actions ``[B]`` from the zero state and no previous action (for callers
    that keep no state, e.g. exporting; evaluations use :func:`build_greedy`)."""
    return R2D2Greedy(network, len(obs)).act(obs, epsilon, rng)


def build_adder(config: Any, info: Any, num_envs: int, stream_offset: int) -> Any:
    """The sequence adder of one actor: :class:`apexrl.replay.sequence.SequenceAdder` (whole
    observations) or, for stacked pixel frames (Atari), the frame-referencing
    :class:`apexrl.replay.sequence_frames.SequenceFrameAdder` with streams from ``stream_offset``."""
    lcfg = config.learner
    sizes = dict(lstm_size=lcfg.lstm_size, burn_in=lcfg.burn_in, sequence_length=lcfg.sequence_length,
                 sequence_period=lcfg.sequence_period)
    if info.kind == "atari":
        from apexrl.replay.sequence_frames import SequenceFrameAdder

        return SequenceFrameAdder(num_envs, stream_offset=stream_offset, **sizes)
    from apexrl.replay.sequence import SequenceAdder

    return SequenceAdder(num_envs, tuple(info.obs_shape), info.obs_dtype, **sizes)


def build_replay(config: Any, info: Any, seed: int | None = None) -> Any:
    """The sequence replay: :class:`apexrl.replay.PrioritizedReplay` (one item per sequence, priority
    exponent and importance-sampling exponent of ``config.replay``) over a
    :class:`~apexrl.replay.sequence_storage.SequenceStorage` or, for Atari, a
    :class:`~apexrl.replay.sequence_frames.SequenceFrameStorage`.

    Raises:
        ValueError: the full replay would need more memory than is available (naming
            ``--replay-capacity``); checked before allocating.
    """
    from apexrl.replay import PrioritizedReplay
    from apexrl.replay.build import available_memory_bytes

    rcfg, lcfg = config.replay, config.learner
    length = lcfg.burn_in + lcfg.sequence_length
    if info.kind == "atari":
        from apexrl.replay.sequence_frames import SequenceFrameStorage

        h, w = info.obs_shape[1:]
        need = SequenceFrameStorage.bytes_needed(rcfg.replay_capacity, length, lcfg.sequence_period, (h, w),
                                                 int(info.obs_shape[0]), lcfg.lstm_size)
        make: Any = lambda: SequenceFrameStorage(rcfg.replay_capacity, length, (h, w), int(info.obs_shape[0]),  # noqa: E731
                                                 lcfg.lstm_size, sequence_period=lcfg.sequence_period)
    else:
        from apexrl.replay.sequence_storage import SequenceStorage

        need = SequenceStorage.bytes_needed(rcfg.replay_capacity, length, tuple(info.obs_shape), info.obs_dtype,
                                            lcfg.lstm_size)
        make = lambda: SequenceStorage(rcfg.replay_capacity, length, tuple(info.obs_shape), info.obs_dtype,  # noqa: E731
                                       lcfg.lstm_size)
    available = available_memory_bytes()
    if available is not None and need > available:
        raise ValueError(f"invalid replay_capacity={rcfg.replay_capacity} (--replay-capacity): the sequence replay "
                         f"needs {need:,} bytes ({need / 2**30:.2f} GiB) but only {available:,} bytes are available")
    return PrioritizedReplay(make(), priority_exponent=rcfg.priority_exponent if rcfg.prioritized else 0.0,
                             importance_sampling_exponent=rcfg.importance_sampling_exponent if rcfg.prioritized
                             else 0.0, priority_epsilon=rcfg.priority_epsilon, seed=seed)
