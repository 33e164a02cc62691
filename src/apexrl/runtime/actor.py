"""The Ape-X actor loop (Horgan et al. 2018, Algorithm 1), the same code for every agent and backend.

An actor steps ``envs_per_actor`` environments with one batched forward pass per step, acts with
its agent's policy (:class:`apexrl.agents.base.ActorPolicy`: ε-greedy with its own ε_i for the DQN
family, Gaussian noise with its own σ_i for DPG), builds n-step transitions with initial
priorities computed from its own network (``q_taken`` and the bootstrap value the policy gives),
and hands them over in messages of ``local_buffer_size`` (B = 50) transitions. Every
``param_update_period_frames`` emulator frames it pulls the newest published parameters.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from apexrl.agents import Agent, get_agent
from apexrl.envs import EnvSpecInfo, completed_episodes, final_observations, make_vector_env
from apexrl.replay import NStepAdder, concat_items, num_items
from apexrl.replay.build import action_layout
from apexrl.runtime.params import SharedParams
from apexrl.runtime.seeding import GENERATIONS_PER_RESUME, derive_seeds, stream_offset
from apexrl.types import FrameTransitions, Transitions


def frames_per_step(kind: str) -> int:
    """Emulator frames per agent step: 4 on Atari (frame skip), 1 elsewhere."""
    return 4 if kind == "atari" else 1


@dataclass
class ActorMessage:
    """One hand-over from an actor to the replay.

    ``items`` holds ``B`` transitions (:class:`Transitions` or :class:`FrameTransitions`),
    ``priorities`` ``[B]`` float32 initial |δ| (``None``: the agent gives none; the replay
    inserts them at its maximum priority), ``env_steps`` the agent steps taken since the
    previous message (all of the actor's envs together), ``episodes`` the (raw return, length)
    of episodes finished since then.
    """

    actor: int
    items: Transitions | FrameTransitions | None
    priorities: np.ndarray | None
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
        return self.inserted if self.items is None else num_items(self.items)


class ActorError(RuntimeError):
    """An actor is in a crash loop: it failed ``--max-actor-restarts`` + 1 times in a row without
    delivering any experience in between (its environment raises at reset or at once, an import
    fails, the process is killed before its first message, ...); the run stops. The message names
    the actor, the count and the last error."""


class ActorRestarts:
    """The restart policy shared by every backend: faults are restarted for as long as the run
    lasts; only a crash loop stops it.

    The rule, after Kubernetes' CrashLoopBackOff (whose back-off resets after a healthy stretch)
    and supervisord's ``startretries`` (a program must get to RUNNING before its retries reset): a
    restart is free once the restarted actor has delivered experience again. An actor may fail at
    most ``max_restarts`` times in a row without one message in between; the next failure is a
    crash loop and raises :class:`ActorError`. An environment that crashes now and then while
    making progress (a flaky simulator) is restarted indefinitely; one that fails before its first
    message (a crash at reset, an import error, a process killed again and again) stops the run
    after ``max_restarts`` restarts. The delay before a restart doubles with each failure of the
    streak, from ``backoff_s`` up to ``max_backoff_s``, and starts again at ``backoff_s`` after a
    delivery. Every restart is counted in :attr:`counts` (the ``actor_restarts`` metric).

    The evaluator is supervised by the same rule (``role="evaluator"``, ``--max-evaluator-restarts``;
    a finished evaluation is its delivery).

    Args:
        num_actors: actors supervised.
        max_restarts: restarts allowed in a row without a delivery (``--max-actor-restarts``).
        backoff_s: delay before the first restart of a streak.
        max_backoff_s: the cap of the doubling delay.
        role: the name of what is supervised, in messages (``actor``, ``evaluator``).
        flag: the flag that sets ``max_restarts``, in messages.
    """

    def __init__(self, num_actors: int, max_restarts: int, backoff_s: float = 0.2,
                 max_backoff_s: float = 5.0, role: str = "actor", flag: str = "--max-actor-restarts") -> None:
        self.role, self.flag = role, flag
        self.max_restarts = max_restarts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.counts = [0] * num_actors
        self.streak = [0] * num_actors
        self.last_error: list[str | None] = [None] * num_actors

    @property
    def total(self) -> int:
        """Restarts of all actors together."""
        return sum(self.counts)

    def delivered(self, index: int) -> None:
        """Actor ``index`` delivered experience: its streak of failures (and its back-off) resets."""
        self.streak[index] = 0

    def crashed(self, index: int, error: str) -> float:
        """Record a failure of actor ``index``; returns the seconds to wait before restarting it.

        Raises:
            ActorError: the actor already failed ``max_restarts`` times in a row without
                delivering experience (a crash loop), or it was restarted
                ``GENERATIONS_PER_RESUME - 1`` times in this session (its seed generations are used
                up; a resume continues).
        """
        self.last_error[index] = error
        if self.streak[index] >= self.max_restarts:
            n = self.streak[index] + 1
            what = "any experience" if self.role == "actor" else "a result"
            raise ActorError(f"{self.role} {index} failed {'once' if n == 1 else f'{n} times in a row'} without "
                             f"delivering {what} ({self.flag} {self.max_restarts}: a crash loop, after "
                             f"{self.counts[index]} restart{'s' if self.counts[index] != 1 else ''} of this "
                             f"{self.role} in all); last error: {error}")
        if self.counts[index] + 1 >= GENERATIONS_PER_RESUME:  # each start of an actor takes a seed generation
            raise ActorError(f"actor {index} was restarted {self.counts[index]:,} times in this session, which uses up "
                             "its seed generations (apexrl.runtime.seeding.GENERATIONS_PER_RESUME); the run stops "
                             f"with its checkpoint: continue it with --resume; last error: {error}")
        delay = min(self.max_backoff_s, self.backoff_s * 2 ** self.streak[index])
        self.streak[index] += 1
        self.counts[index] += 1
        return delay

    def describe(self, index: int) -> str:
        """``restart 3 (2 in a row without a delivery, the limit is 10)`` for log lines."""
        return (f"restart {self.counts[index]} ({self.streak[index]} in a row without a delivery, "
                f"{self.flag} {self.max_restarts})")


@dataclass
class ActorFailure:
    """Sent instead of a message when an actor's loop raised; the run stops with ``error``."""

    actor: int
    error: str
    traceback: str


class Actor:
    """One Ape-X actor of any agent.

    Args:
        config: the run's configuration (the agent's config class).
        agent: the :class:`~apexrl.agents.base.Agent` (or its registered name, as actor processes
            receive it) whose network and policy it acts with.
        info: the environment's shapes (from :func:`apexrl.envs.env_info`).
        index: this actor's index ``i`` in ``[0, num_actors)``; it sets the agent's per-actor
            exploration (ε_i, σ_i) and the env seeds.
        params: where the learner publishes parameters.
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

    def __init__(self, config: Any, agent: Agent | str, info: EnvSpecInfo, index: int, params: SharedParams,
                 generation: int = 0, start_frames: int = 0, step_clock: Any = None) -> None:
        run, acfg, lcfg = config.run, config.actor, config.learner
        agent = get_agent(agent) if isinstance(agent, str) else agent
        self.index = index
        self.num_envs = acfg.envs_per_actor
        self.frames = int(start_frames)
        self._clock = step_clock
        seeds = derive_seeds(run.seed, generation, index, self.num_envs, run.num_actors)
        self.env_seeds = list(seeds.env_seeds)  # env i: its own seed in [0, 2**32)
        self.envs = make_vector_env(run.env_id, self.num_envs, self.env_seeds, training=True,
                                    context=f"actor {index}", **env_kwargs_for(config, info))
        self.net = agent.build_network(config, info)
        self.policy = agent.build_policy(config, info, self.net, index, seeds.rng())
        self._observe = getattr(self.policy, "observe", None)  # optional: stateful policies
        self.policy.advance(self.frames)
        self.params = params
        self.param_version = params.pull(self.net)
        # every (generation, actor, env) is its own stream: a restarted actor's steps start again at 0
        offset = stream_offset(generation, index, self.num_envs)
        if agent.build_adder is not None:
            self.adder: Any = agent.build_adder(config, info, self.num_envs, offset)
        else:
            shape, dtype = action_layout(info)
            layout: dict[str, Any] = {} if shape == () else {"action_shape": shape, "action_dtype": dtype}
            self.adder = NStepAdder(self.num_envs, lcfg.n_step, lcfg.gamma, frame_stack=info.kind == "atari",
                                    stream_offset=offset, **layout)
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
        self.current = self.policy.step(self.obs)

    def _tick(self, busy: bool) -> None:
        if self._clock is not None:
            self._clock[self.index] = time.monotonic() if busy else 0.0

    def step(self) -> ActorMessage | None:
        """Take one step in every environment; return a message once B transitions are ready."""
        current = self.current
        self._tick(True)
        next_obs, reward, terminated, truncated, info = self.envs.step(current.env_actions)
        self._tick(False)
        done = terminated | truncated
        self.frames += self.num_envs * self.frames_per_step
        if self._observe is not None:  # a stateful policy: reset ended episodes, keep the reward
            self._observe(np.asarray(reward, dtype=np.float32), terminated, truncated)
        self.policy.advance(self.frames)  # the next actions already use the new ε (or σ) schedule value
        upcoming = self.policy.step(next_obs)
        next_value = upcoming.value
        true_next = next_obs
        if done.any():
            true_next = final_observations(next_obs, info, done)
            cut = truncated & ~terminated  # bootstrap from the final observation
            if cut.any() and next_value is not None:
                next_value = next_value.copy()
                next_value[cut] = self.policy.value(true_next[cut])
            for _, ret, length in completed_episodes(info):
                self._episodes.append((float(ret), int(length)))
        with_prio = current.q_taken is not None and next_value is not None
        extras: dict[str, Any] = {} if current.extras is None else {"extras": current.extras}
        items, prio = self.adder.add(self.obs, current.actions, reward, true_next, terminated, truncated,
                                     q_taken=current.q_taken if with_prio else None,
                                     next_value=next_value if with_prio else None, **extras)
        self.obs, self.current = next_obs, upcoming
        self._steps += self.num_envs
        count = num_items(items)
        if count:
            self._pending.append(items)
            if prio is not None:
                self._pending_prio.append(prio)
            self._pending_count += count
        elif isinstance(items, FrameTransitions) and len(items.frames):
            self._pending.append(items)  # frames must reach replay before the transitions using them
        self._frames_since_pull += self.num_envs * self.frames_per_step
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
            priorities=np.concatenate(self._pending_prio).astype(np.float32) if self._pending_prio else None,
            env_steps=self._steps,
            episodes=self._episodes,
            param_version=self.param_version,
        )
        self._pending, self._pending_prio, self._pending_count = [], [], 0
        self._steps, self._episodes = 0, []
        return message

    def close(self) -> None:
        self.envs.close()


def env_kwargs_for(config: Any, info: EnvSpecInfo) -> dict[str, Any]:
    """Extra ``make_env`` keyword arguments of this config for this environment."""
    if info.kind == "atari":
        return {"repeat_action_probability": config.actor.repeat_action_probability}
    return {}
