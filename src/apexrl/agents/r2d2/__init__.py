"""R2D2 (Kapturowski et al. 2019, "Recurrent Experience Replay in Distributed Reinforcement
Learning"): recurrent ε-greedy actors on the Ape-X runtime, a sequence replay with stored LSTM
state and per-sequence priorities, and a learner with burn-in and value rescaling. Docs:
``docs/r2d2.md``.

Parts: :mod:`~apexrl.agents.r2d2.config` (the flags), :mod:`~apexrl.agents.r2d2.presets`
(``popgym``, ``minatar``, ``atari``), :mod:`~apexrl.agents.r2d2.policy` (actor and evaluation
policies, adder and replay builders), :mod:`~apexrl.agents.r2d2.learner`; the sequence adder and
storages live in :mod:`apexrl.replay.sequence`, :mod:`apexrl.replay.sequence_storage` and
:mod:`apexrl.replay.sequence_frames`, the loss in :mod:`apexrl.losses.r2d2`, the network in
:mod:`apexrl.nets.recurrent`.
"""

from __future__ import annotations

from apexrl.agents.base import Agent, lazy
from apexrl.agents.r2d2.config import R2D2AgentConfig, R2D2Config
from apexrl.agents.r2d2.presets import PRESETS

_POLICY = "apexrl.agents.r2d2.policy"

AGENTS: list[Agent] = [
    Agent(name="r2d2",
          doc="R2D2 (Kapturowski et al. 2019): an LSTM dueling double-Q agent trained from prioritized sequence "
              "replay with the actors' stored recurrent state, a burn-in of 40 steps, n = 5, γ = 0.997 and value "
              "rescaling; one ε per environment instance. Presets: popgym (the default), minatar, atari.",
          config_class=R2D2AgentConfig, presets=PRESETS, default=PRESETS["popgym"], single_actor=False,
          action_kind="discrete", build_network=lazy(f"{_POLICY}:build_network"),
          build_policy=lazy(f"{_POLICY}:build_policy"), build_learner=lazy(f"{_POLICY}:build_learner"),
          greedy_actions=lazy(f"{_POLICY}:greedy_actions"), build_adder=lazy(f"{_POLICY}:build_adder"),
          build_replay=lazy(f"{_POLICY}:build_replay"), build_greedy=lazy(f"{_POLICY}:build_greedy")),
]
"""R2D2's agent record (registered by :mod:`apexrl.agents`)."""

__all__ = ["AGENTS", "PRESETS", "R2D2AgentConfig", "R2D2Config"]
