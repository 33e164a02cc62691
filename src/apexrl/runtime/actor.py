"""The Ape-X actor (Horgan et al. 2018, Algorithm 1), the same code in every backend.

An actor steps ``envs_per_actor`` environments with one batched forward pass per step,
acts ε-greedily with its own ε_i, builds n-step transitions with initial priorities
computed from its own Q-values, and hands them over in messages of ``local_buffer_size``
(B = 50) transitions. Every ``param_update_period_frames`` emulator frames it pulls the newest
published parameters.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from apexrl.config import ApexDQNConfig
from apexrl.envs import EnvSpecInfo, completed_episodes, final_observations, make_vector_env
from apexrl.nets import build_dqn_network, reset_noise
from apexrl.replay import NStepAdder, concat_items
from apexrl.runtime.params import SharedParams
from apexrl.runtime.seeding import derive_seeds, stream_offset
from apexrl.types import FrameTransitions, Transitions


def apex_epsilon(index: int, num_actors: int, epsilon: float = 0.4, alpha: float = 7.0) -> float:
    """Per-actor exploration rate ε_i = ε^(1 + α·i/(N−1)) (Horgan et al. 2018, §4.1).

    With one actor (N = 1) the actor gets ε itself.

    Raises:
        ValueError: ``index`` outside ``[0, num_actors)``.
    """
    if not 0 <= index < num_actors:
        raise ValueError(f"actor index {index} outside [0, {num_actors})")
    if num_actors == 1:
        return float(epsilon)
    return float(epsilon ** (1.0 + alpha * index / (num_actors - 1)))


def frames_per_step(kind: str) -> int:
    """Emulator frames per agent step: 4 on Atari (frame skip), 1 elsewhere."""
    return 4 if kind == "atari" else 1


@dataclass
class ActorMessage:
    """One hand-over from an actor to the replay.

    ``items`` holds ``B`` transitions (:class:`Transitions` or :class:`FrameTransitions`),
    ``priorities`` ``[B]`` float32 initial |δ|, ``env_steps`` the agent steps taken since the
    previous message (all of the actor's envs together), ``episodes`` the (raw return, length)
    of episodes finished since then.
    """

    actor: int
    items: Transitions | FrameTransitions | None
    priorities: np.ndarray
    env_steps: int
    episodes: list[tuple[float, int]] = field(default_factory=list)
    param_version: int = 0
    inserted: int = 0
    """For a receipt (``items is None``: the actor wrote the items to a replay shard itself, as in
    the Ray backend): the number of transitions inserted."""
    node: str = ""
    """The node the actor ran on (Ray backend)."""

    @property
    def num_transitions(self) -> int:
        """Transitions this message carries or, for a receipt, inserted."""
        return self.inserted if self.items is None else len(self.priorities)


class ActorError(RuntimeError):
    """An actor kept failing (its environment raised, for example on a NaN observation, or hung)
    more often than ``--max-actor-restarts`` allows; the run stops. The message names the actor
    and the last error."""


class ActorRestarts:
    """Crash accounting shared by every backend: restarts per actor with exponential backoff.

    Args:
        num_actors: actors supervised.
        max_restarts: restarts allowed per actor (``--max-actor-restarts``).
        backoff_s: delay before the first restart; doubles with each restart of the same actor,
            up to ``max_backoff_s``.
    """

    def __init__(self, num_actors: int, max_restarts: int, backoff_s: float = 0.2,
                 max_backoff_s: float = 5.0) -> None:
        self.max_restarts = max_restarts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.counts = [0] * num_actors
        self.last_error: list[str | None] = [None] * num_actors

    @property
    def total(self) -> int:
        """Restarts of all actors together."""
        return sum(self.counts)

    def crashed(self, index: int, error: str) -> float:
        """Record a crash of actor ``index``; returns the seconds to wait before restarting it.

        Raises:
            ActorError: the actor already used its ``max_restarts`` restarts.
        """
        self.last_error[index] = error
        if self.counts[index] >= self.max_restarts:
            n = self.counts[index] + 1
            raise ActorError(f"actor {index} failed {'once' if n == 1 else f'{n} times'} "
                             f"(--max-actor-restarts {self.max_restarts}); last error: {error}")
        delay = min(self.max_backoff_s, self.backoff_s * 2 ** self.counts[index])
        self.counts[index] += 1
        return delay


@dataclass
class ActorFailure:
    """Sent instead of a message when an actor's loop raised; the run stops with ``error``."""

    actor: int
    error: str
    traceback: str


class Actor:
    """One Ape-X actor.

    Args:
        config: the run's configuration.
        info: the environment's shapes (from :func:`apexrl.envs.env_info`).
        index: this actor's index ``i`` in ``[0, num_actors)``; it sets ε_i and the env seeds.
        params: where the learner publishes parameters.
        epsilon: override of ε_i (the evaluator uses the evaluation ε).
        generation: how many times this actor was started before (restarts, resumes: see
            :func:`apexrl.runtime.seeding.first_generation`); with the run seed, the index and the
            env it keys the environment and exploration seeds (:func:`apexrl.runtime.seeding.derive_seeds`)
            and the replay stream ids, so a restarted actor does not replay the same episodes.
            0 gives the seeds of a fresh run.
        start_frames: emulator frames this actor had already taken (continues an ε decay after a
            restart or resume).
        step_clock: optional shared array; ``step_clock[index]`` holds ``time.monotonic()`` while
            an environment step or reset is running and ``0.0`` otherwise (hang detection).
    """

    def __init__(self, config: ApexDQNConfig, info: EnvSpecInfo, index: int, params: SharedParams,
                 epsilon: float | None = None, generation: int = 0, start_frames: int = 0,
                 step_clock: Any = None) -> None:
        run, acfg, lcfg = config.run, config.actor, config.learner
        self.index = index
        self.num_envs = acfg.envs_per_actor
        self.final_epsilon = apex_epsilon(index, run.num_actors, acfg.epsilon, acfg.epsilon_alpha) \
            if epsilon is None else epsilon
        self.epsilon_start = acfg.epsilon_start
        self.epsilon_decay_frames = acfg.epsilon_decay_frames if epsilon is None else 0
        self.frames = int(start_frames)
        self.epsilon = self._epsilon_now()
        self._clock = step_clock
        seeds = derive_seeds(run.seed, generation, index, self.num_envs, run.num_actors)
        self.env_seeds = list(seeds.env_seeds)  # env i: its own seed in [0, 2**32)
        self.rng = seeds.rng()
        self.envs = make_vector_env(run.env_id, self.num_envs, self.env_seeds, training=True,
                                    context=f"actor {index}", **env_kwargs_for(config, info))
        self.net = build_dqn_network(lcfg, info)
        self.noisy = lcfg.noisy
        if not self.noisy:
            self.net.eval()  # noisy nets act in train mode: with noise, resampled every step
        self.params = params
        self.param_version = params.pull(self.net)
        # every (generation, actor, env) is its own stream: a restarted actor's steps start again at 0
        self.adder = NStepAdder(self.num_envs, lcfg.n_step, lcfg.gamma, frame_stack=info.kind == "atari",
                                stream_offset=stream_offset(generation, index, self.num_envs))
        self.frames_per_step = frames_per_step(info.kind)
        self.buffer_size = acfg.local_buffer_size
        self.param_period = acfg.param_update_period_frames
        self._frames_since_pull = 0
        self._pending: list[Any] = []
        self._pending_prio: list[np.ndarray] = []
        self._pending_count = 0
        self._steps = 0
        self._episodes: list[tuple[float, int]] = []
        self._tick(True)
        self.obs, _ = self.envs.reset(seed=self.env_seeds)
        self._tick(False)
        self.q = self._forward(self.obs)

    def _tick(self, busy: bool) -> None:
        if self._clock is not None:
            self._clock[self.index] = time.monotonic() if busy else 0.0

    def _epsilon_now(self) -> float:
        if self.epsilon_decay_frames <= 0:
            return self.final_epsilon
        left = max(0.0, 1.0 - self.frames / self.epsilon_decay_frames)
        return self.final_epsilon + (self.epsilon_start - self.final_epsilon) * left

    def _forward(self, obs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.net(torch.from_numpy(np.asarray(obs))).numpy()

    def _act(self, q: np.ndarray) -> np.ndarray:
        actions = q.argmax(axis=1)
        if self.epsilon <= 0.0:
            return actions
        explore = self.rng.random(self.num_envs) < self.epsilon
        if explore.any():
            actions[explore] = self.rng.integers(0, q.shape[1], size=int(explore.sum()))
        return actions

    def step(self) -> ActorMessage | None:
        """Take one step in every environment; return a message once B transitions are ready."""
        actions = self._act(self.q)
        self._tick(True)
        next_obs, reward, terminated, truncated, info = self.envs.step(actions)
        self._tick(False)
        done = terminated | truncated
        if self.noisy:
            reset_noise(self.net)  # Fortunato et al. 2018: new noise for every action selection
        q_next = self._forward(next_obs)
        next_value = q_next.max(axis=1)
        true_next = next_obs
        if done.any():
            true_next = final_observations(next_obs, info, done)
            cut = truncated & ~terminated  # bootstrap from the final observation
            if cut.any():
                next_value = next_value.copy()
                next_value[cut] = self._forward(true_next[cut]).max(axis=1)
            for _, ret, length in completed_episodes(info):
                self._episodes.append((float(ret), int(length)))
        q_taken = self.q[np.arange(self.num_envs), actions]
        items, prio = self.adder.add(self.obs, actions, reward, true_next, terminated, truncated,
                                     q_taken=q_taken, next_value=next_value)
        self.obs, self.q = next_obs, q_next
        self._steps += self.num_envs
        count = len(items.action)
        if count:
            self._pending.append(items)
            self._pending_prio.append(prio)
            self._pending_count += count
        elif isinstance(items, FrameTransitions) and len(items.frames):
            self._pending.append(items)  # frames must reach replay before the transitions using them
        self._frames_since_pull += self.num_envs * self.frames_per_step
        self.frames += self.num_envs * self.frames_per_step
        if self.epsilon_decay_frames > 0:
            self.epsilon = self._epsilon_now()
        if self._frames_since_pull >= self.param_period:
            self._frames_since_pull = 0
            self.param_version = self.params.pull(self.net, self.param_version)
        if self._pending_count >= self.buffer_size:
            return self._flush()
        return None

    def _flush(self) -> ActorMessage:
        message = ActorMessage(
            actor=self.index,
            items=concat_items(self._pending),
            priorities=np.concatenate(self._pending_prio).astype(np.float32),
            env_steps=self._steps,
            episodes=self._episodes,
            param_version=self.param_version,
        )
        self._pending, self._pending_prio, self._pending_count = [], [], 0
        self._steps, self._episodes = 0, []
        return message

    def close(self) -> None:
        self.envs.close()


def env_kwargs_for(config: ApexDQNConfig, info: EnvSpecInfo) -> dict[str, Any]:
    """Extra ``make_env`` keyword arguments of this config for this environment."""
    if info.kind == "atari":
        return {"repeat_action_probability": config.actor.repeat_action_probability}
    return {}
