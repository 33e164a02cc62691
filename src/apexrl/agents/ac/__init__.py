"""The synchronous actor-critic agents on one learner with switches: ``a2c`` (Mnih et al. 2016,
synchronous) and ``ppo`` (Schulman et al. 2017). Docs: ``docs/a2c.md``, ``docs/ppo.md``.

On-policy data: actors cut their steps into rollouts (:class:`apexrl.replay.rollout.RolloutAdder`)
that reach the learner through a bounded FIFO queue (:class:`apexrl.replay.rollout.RolloutQueue`,
the agents' replay), each used by one learner step. Builders (torch is imported when they are
called): :func:`build_network`, :func:`build_policy`, :func:`build_learner`, :func:`greedy_actions`,
:func:`build_adder`, :func:`build_replay`.
"""

from __future__ import annotations

from typing import Any

from apexrl.agents.ac.config import ActorCriticAgentConfig, ActorCriticConfig
from apexrl.agents.ac.presets import A2C_PRESETS, PPO_PRESETS
from apexrl.agents.base import Agent, lazy

build_network = lazy("apexrl.agents.ac.policy:build_network")
build_policy = lazy("apexrl.agents.ac.policy:build_policy")
build_adder = lazy("apexrl.agents.ac.policy:build_adder")
build_learner = lazy("apexrl.agents.ac.learner:ActorCriticLearner")
greedy_actions = lazy("apexrl.agents.ac.policy:greedy_actions")  # the mode; ε ignored
build_replay = lazy("apexrl.replay.rollout:build_rollout_queue")


def _agent(name: str, doc: str, presets: dict[str, Any]) -> Agent:
    return Agent(name=name, doc=doc, config_class=ActorCriticAgentConfig, presets=presets, default=presets["cartpole"],
                 single_actor=True, action_kind="any", build_network=build_network, build_policy=build_policy,
                 build_learner=build_learner, greedy_actions=greedy_actions, build_adder=build_adder,
                 build_replay=build_replay)


AGENTS: list[Agent] = [
    _agent("a2c", "A2C (Mnih et al. 2016, synchronous): N actors × E envs, n-step returns, one RMSProp step per "
                  "batch of rollouts on the policy gradient, value loss and entropy bonus; Discrete or Box actions.",
           A2C_PRESETS),
    _agent("ppo", "PPO (Schulman et al. 2017): GAE(λ) advantages, the clipped surrogate objective, a clipped value "
                  "loss, minibatch epochs, learning-rate annealing and a gradient-norm clip; Discrete or Box actions.",
           PPO_PRESETS),
]
"""The actor-critic agents (registered by :mod:`apexrl.agents`)."""

__all__ = ["AGENTS", "ActorCriticAgentConfig", "ActorCriticConfig", "build_adder", "build_learner",
           "build_network", "build_policy", "build_replay", "greedy_actions"]
