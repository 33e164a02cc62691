"""The registry of agents: ``apexrl train NAME`` looks ``NAME`` up in :data:`AGENTS`.

An agent is a frozen configuration plus builder functions (:class:`apexrl.agents.base.Agent`);
each family lives in its own folder (``agents/dqn``, ...) and lists its records in ``AGENTS``
there. Adding an agent means adding its folder and one line in :data:`_FAMILIES`; the runtime
(:mod:`apexrl.runtime`) and the backends (:mod:`apexrl.backends`) are not edited. Importing this
module does not import torch (the builders import it when called).
"""

from __future__ import annotations

import importlib

from apexrl.agents.base import LEARNER_FIELDS, ActionKind, ActorPolicy, Agent, Learner, PolicyStep

_FAMILIES = ("apexrl.agents.dqn", "apexrl.agents.dpg", "apexrl.agents.sac", "apexrl.agents.ac",
             "apexrl.agents.r2d2")
"""Modules whose ``AGENTS`` list of :class:`Agent` records is registered, in ``--help`` order."""


def _check(agent: Agent, module: str) -> None:
    """Raise ValueError unless the agent's config has the groups and learner fields the runtime reads."""
    import dataclasses

    from apexrl.config import _group_type

    groups = {g: _group_type(agent.config_class, g) for g in ("run", "replay", "actor", "learner")}
    missing = [g for g, t in groups.items() if t is None]
    learner = groups["learner"]
    if learner is not None:
        names = {f.name for f in dataclasses.fields(learner)}
        missing += [f"learner.{f}" for f in LEARNER_FIELDS if f not in names]
    if missing:
        raise ValueError(f"agent {agent.name!r} ({module}): its config {agent.config_class.__name__} lacks "
                         f"{', '.join(missing)}, which the runtime reads")


def _collect() -> dict[str, Agent]:
    agents: dict[str, Agent] = {}
    for module in _FAMILIES:
        for agent in importlib.import_module(module).AGENTS:
            if agent.name in agents:
                raise ValueError(f"agent {agent.name!r} is registered twice ({module})")
            _check(agent, module)
            agents[agent.name] = agent
    return agents


AGENTS: dict[str, Agent] = _collect()
"""Every registered agent by CLI name."""


def get_agent(name: str) -> Agent:
    """The agent registered as ``name``.

    Raises:
        ValueError: no agent has that name (the message lists the registered ones).
    """
    try:
        return AGENTS[name]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r}; available: {', '.join(AGENTS)}") from None


def agents_for(kind: ActionKind) -> list[str]:
    """Names of the agents acting in ``kind`` action spaces (``"discrete"`` or ``"continuous"``),
    those of action kind ``"any"`` (either) included."""
    return [name for name, agent in AGENTS.items() if agent.action_kind in (kind, "any")]


__all__ = ["AGENTS", "ActionKind", "ActorPolicy", "Agent", "Learner", "PolicyStep", "agents_for", "get_agent"]
