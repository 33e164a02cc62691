"""The DQN family (DQN, double, dueling, prioritized, C51, Rainbow, Ape-X DQN, Ape-X Rainbow): one
learning rule with switches (:mod:`apexrl.agents.dqn.family`), the environment-family presets
(:mod:`apexrl.agents.dqn.apex_dqn`), the ε-greedy actor policy (:mod:`apexrl.agents.dqn.policy`)
and the learner (:mod:`apexrl.agents.dqn.learner`)."""

from apexrl.agents.dqn.family import AGENTS

__all__ = ["AGENTS"]
