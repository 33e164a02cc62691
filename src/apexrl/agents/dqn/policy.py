"""The DQN family's builder functions: its network, the ε-greedy actor policy, the learner, and the
evaluation policy (Horgan et al. 2018, Algorithm 1; Mnih et al. 2015 for the ε decay).

Environment instance ``i`` of the ``M = N·E`` of the run explores with ε_i = ε^(1 + α·i/(M−1))
(:func:`apexrl.agents.exploration.environment_epsilons`; ``--no-epsilon-per-env``: one rate per
actor, as the Ape-X paper words it), optionally decaying linearly from ``epsilon_start`` over the
actor's first ``epsilon_decay_frames`` emulator frames.
Its initial priorities come from its own Q-values: ``q_taken = Q(s, a)`` and the bootstrap
value ``max_a Q(s', a)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from apexrl.agents.base import PolicyStep
from apexrl.agents.exploration import EpsilonSchedule, apex_epsilon, epsilon_greedy

__all__ = ["EpsilonGreedyPolicy", "apex_epsilon", "build_learner", "build_network", "build_policy", "greedy_actions"]


class EpsilonGreedyPolicy:
    """ε-greedy acting on the Q network of one actor (all of its ``E`` environments).

    Args:
        config: an :class:`apexrl.config.ApexDQNConfig` (``actor`` is an
            :class:`~apexrl.config.EpsilonGreedyConfig`).
        network: the actor's Q network ``obs [E, *obs_shape] -> [E, A]`` float32; noisy networks
            act in train mode with fresh noise every step (Fortunato et al. 2018), others in eval mode.
        index: the actor's index (sets the rates ε_i of its environments).
        rng: the actor's generator (exploration draws).

    The frames an actor had already taken (a restart, a resume) reach it through :meth:`advance`.
    """

    def __init__(self, config: Any, network: Any, index: int, rng: np.random.Generator) -> None:
        self.network = network
        self.noisy = bool(config.learner.noisy)
        if not self.noisy:
            network.eval()
        self.rng = rng
        self.schedule = EpsilonSchedule(config, index)
        self.epsilon = self.schedule.at(0)
        self._first = True

    def _q(self, obs: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.network(torch.from_numpy(np.asarray(obs))).numpy()

    def step(self, obs: np.ndarray) -> PolicyStep:
        """ε-greedy actions ``[E]`` int64 with ``q_taken`` and ``value = max_a Q`` (float32)."""
        if self.noisy and not self._first:
            from apexrl.nets import reset_noise

            reset_noise(self.network)  # new noise for every action selection
        self._first = False
        q = self._q(obs)
        actions = epsilon_greedy(q, self.epsilon, self.rng)
        q_taken = q[np.arange(len(actions)), actions].astype(np.float32)
        return PolicyStep(actions, actions, q_taken, q.max(axis=1).astype(np.float32))

    def value(self, obs: np.ndarray) -> np.ndarray:
        """``max_a Q(s, a)`` ``[K]`` float32."""
        return self._q(obs).max(axis=1).astype(np.float32)

    def advance(self, frames: int) -> None:
        """Continue the ε decay at the actor's ``frames`` emulator frames."""
        if self.schedule.decay_frames > 0:
            self.epsilon = self.schedule.at(frames)


def build_network(config: Any, info: Any) -> Any:
    """The Q network of ``config.learner`` (:func:`apexrl.nets.build_dqn_network`)."""
    from apexrl.nets import build_dqn_network

    return build_dqn_network(config.learner, info)


def build_policy(config: Any, info: Any, network: Any, index: int, rng: np.random.Generator) -> EpsilonGreedyPolicy:
    """The ε-greedy policy of actor ``index`` (the actor calls ``advance`` with the frames it had
    already taken before its first step)."""
    return EpsilonGreedyPolicy(config, network, index, rng)


def build_learner(config: Any, info: Any, seed: int, device: Any) -> Any:
    """A :class:`apexrl.agents.dqn.learner.DQNLearner` on ``device``."""
    from apexrl.agents.dqn.learner import DQNLearner

    return DQNLearner(config.learner, info, seed=seed, device=device)


def greedy_actions(network: Any, obs: np.ndarray, action_space: Any, epsilon: float,
                   rng: np.random.Generator) -> np.ndarray:
    """ε-greedy actions ``[B]`` int64 of the Q network (evaluation: Ape-X's ε = 0.001). One
    uniform draw per observation is taken whatever ``epsilon`` is, so evaluations with the same
    seed see the same random numbers."""
    import torch

    with torch.inference_mode():
        q = network(torch.from_numpy(np.asarray(obs))).numpy()
    actions = q.argmax(axis=1)
    explore = rng.random(len(actions)) < epsilon
    actions[explore] = rng.integers(0, int(action_space.n), size=int(explore.sum()))
    return actions
