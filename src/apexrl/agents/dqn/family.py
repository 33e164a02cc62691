"""The DQN family as configuration: one learning rule with switches, named algorithms as presets.

Every algorithm below is the same actor, replay and learner code with different switches of
:class:`apexrl.config.DQNConfig` / :class:`~apexrl.config.ReplayConfig` (Hessel et al. 2018
build Rainbow from exactly these parts). The environment-family presets (``cartpole``,
``minatar``, ``atari``) of :mod:`apexrl.agents.dqn.apex_dqn` give network sizes, budgets and
optimizer settings; an algorithm then sets its switches on top. Single-actor algorithms run the
classic DQN loop in one process (``--backend local``, one actor, a learner update every
``train_every`` agent steps, expressed as ``samples_per_insert = batch_size / train_every``)
with ε decaying linearly from 1 to 0.1 over the first 10% of the budget (DQN 2015: 1M of
50M frames); ``--actors N`` (N > 1) switches them to the multi-process runtime.

| name | paper | double | dueling | replay | n | distributional | noisy | actors |
|---|---|---|---|---|---|---|---|---|
| ``dqn`` | Mnih et al. 2015 | – | – | uniform | 1 | – | – | 1 |
| ``double-dqn`` | van Hasselt et al. 2016 | ✓ | – | uniform | 1 | – | – | 1 |
| ``dueling-dqn`` | Wang et al. 2016 | ✓ | ✓ | uniform | 1 | – | – | 1 |
| ``prioritized-dqn`` | Schaul et al. 2016 | ✓ | – | prioritized, β → 1 | 1 | – | – | 1 |
| ``c51`` | Bellemare et al. 2017 | – | – | uniform | 1 | 51 atoms | – | 1 |
| ``rainbow`` | Hessel et al. 2018 | ✓ | ✓ | prioritized α 0.5, β → 1 | 3 | 51 atoms | σ0 0.5, ε off† | 1 |
| ``apex-dqn`` | Horgan et al. 2018 | ✓ | ✓ | prioritized | 3 | – | – | N, per-actor ε |
| ``apex-rainbow`` | Horgan et al. 2018 + Rainbow | ✓ | ✓ | prioritized | 3 | 51 atoms | σ0 0.5 | N, per-actor ε |

† On ``cartpole`` only, ``rainbow`` acts uniformly at random at first (ε from 1 to 0 over the first
10% of frames) and has its own sizes: see :data:`_FAMILY_OVERRIDES` and ``docs/dqn-family.md``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from apexrl.agents.base import Agent
from apexrl.agents.dqn import apex_dqn, policy
from apexrl.config import ApexDQNConfig


def _with(config: ApexDQNConfig, *, run: dict | None = None, replay: dict | None = None, actor: dict | None = None,
          learner: dict | None = None) -> ApexDQNConfig:
    return ApexDQNConfig(
        run=dataclasses.replace(config.run, **(run or {})),
        replay=dataclasses.replace(config.replay, **(replay or {})),
        actor=dataclasses.replace(config.actor, **(actor or {})),
        learner=dataclasses.replace(config.learner, **(learner or {})),
    )


_SUPPORT = {"cartpole": (0.0, 100.0), "minatar": (-10.0, 10.0), "atari": (-10.0, 10.0), "toy-text": (-100.0, 20.0),
            "taxi": (-100.0, 20.0)}
"""[v_min, v_max] per family: C51's [−10, 10] for clipped-reward games; CartPole's returns
(+1 per step, γ = 0.99) reach 100."""

_TRAIN_EVERY = {"cartpole": 4, "minatar": 4, "atari": 4, "toy-text": 8, "taxi": 8}
"""Agent steps per learner update of the single-actor loop (DQN 2015 and MinAtar: 4)."""

_SWITCHES: dict[str, dict[str, dict[str, Any]]] = {
    "dqn": {"learner": dict(double=False, dueling=False, n_step=1, loss="huber"), "replay": dict(prioritized=False)},
    "double-dqn": {"learner": dict(double=True, dueling=False, n_step=1, loss="huber"),
                   "replay": dict(prioritized=False)},
    "dueling-dqn": {"learner": dict(double=True, dueling=True, n_step=1, loss="huber"),
                    "replay": dict(prioritized=False)},
    "prioritized-dqn": {"learner": dict(double=True, dueling=False, n_step=1, loss="huber"),
                        "replay": dict(prioritized=True, priority_exponent=0.6, importance_sampling_exponent=0.4,
                                       importance_sampling_exponent_final=1.0)},
    "c51": {"learner": dict(double=False, dueling=False, n_step=1, distributional=True),
            "replay": dict(prioritized=False)},
    "rainbow": {"learner": dict(double=True, dueling=True, n_step=3, distributional=True, noisy=True),
                "replay": dict(prioritized=True, priority_exponent=0.5, importance_sampling_exponent=0.4,
                               importance_sampling_exponent_final=1.0),
                "actor": dict(epsilon=0.0, epsilon_start=0.0, epsilon_decay_frames=0)},
    "apex-rainbow": {"learner": dict(double=True, dueling=True, n_step=3, distributional=True, noisy=True)},
}


_FAMILY_OVERRIDES: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("rainbow", "cartpole"): {
        "run": dict(total_env_frames=100_000),
        "replay": dict(samples_per_insert=24.0),
        "actor": dict(envs_per_actor=4, epsilon_start=1.0, epsilon=0.0, epsilon_decay_frames=10_000),
        "learner": dict(hidden_sizes=(128, 128), learning_rate=5e-4),
    },
}
"""Settings of one algorithm on one family that differ from the family preset, each measured
here (see ``docs/dqn-family.md``). ``rainbow`` on ``cartpole``: C51 learns CartPole's values more
slowly than a scalar Q head, and with noisy nets alone several seeds sat at returns of 115–165
for the whole budget (the same seeds with ε-greedy, or without the distributional head, did
not). Hence a random-action warm-up (ε from 1 to 0 over the first 10% of frames, then noisy
nets alone), 1.5× the family's replay ratio (24 samples per inserted transition), 128-unit
layers (half the update cost of 256) and 4 environments per forward pass, so that 100K frames
take about 130 s on an idle 2-core machine here. Even so the final return sits close to 475 and differs
by seed (figures in ``docs/dqn-family.md``)."""


def _preset(name: str, family: str) -> Callable[[], ApexDQNConfig]:
    base = apex_dqn.PRESETS[family]
    switches = _SWITCHES[name]
    single = not name.startswith("apex-")

    def make() -> ApexDQNConfig:
        config = base()
        learner = dict(switches.get("learner", {}))
        if learner.get("distributional"):
            learner["v_min"], learner["v_max"] = _SUPPORT[family]
        run: dict[str, Any] = {}
        replay = dict(switches.get("replay", {}))
        actor = dict(switches.get("actor", {}))
        if single:
            run = dict(num_actors=1, backend="local")
            replay.setdefault("samples_per_insert",
                              config.learner.batch_size / _TRAIN_EVERY[family])
            if "epsilon" not in actor:  # DQN 2015: ε 1 → 0.1 over the first part of training
                actor.update(epsilon=0.1 if family != "cartpole" else 0.02, epsilon_start=1.0,
                             epsilon_decay_frames=max(1, config.run.total_env_frames // 10))
        for group, values in _FAMILY_OVERRIDES.get((name, family), {}).items():
            {"run": run, "replay": replay, "actor": actor, "learner": learner}[group].update(values)
        return _with(config, run=run, replay=replay, actor=actor, learner=learner)

    make.__doc__ = f"``{name}`` on the ``{family}`` family (switches on top of apex-dqn's ``{family}`` preset)."
    return make


def _agent(name: str, doc: str, presets: dict[str, Callable[[], ApexDQNConfig]],
           default: Callable[[], ApexDQNConfig]) -> Agent:
    return Agent(name=name, doc=doc, config_class=ApexDQNConfig, presets=presets, default=default,
                 single_actor=not name.startswith("apex-"), action_kind="discrete",
                 build_network=policy.build_network, build_policy=policy.build_policy,
                 build_learner=policy.build_learner, greedy_actions=policy.greedy_actions)


def _algorithm(name: str, doc: str) -> Agent:
    presets = {family: _preset(name, family) for family in apex_dqn.PRESETS}
    return _agent(name, doc, presets, presets["cartpole"])


AGENTS: list[Agent] = [
    _agent("apex-dqn", apex_dqn.__doc__ or "", apex_dqn.PRESETS, ApexDQNConfig),
    _algorithm("apex-rainbow", "Ape-X runtime with the Rainbow learning rule (C51, noisy, dueling, "
                               "double, n-step, prioritized) and per-actor ε."),
    _algorithm("dqn", "DQN (Mnih et al. 2015): one actor, uniform replay, target network, Huber loss."),
    _algorithm("double-dqn", "Double DQN (van Hasselt et al. 2016): DQN with the online network "
                             "choosing the bootstrap action."),
    _algorithm("dueling-dqn", "Dueling double DQN (Wang et al. 2016)."),
    _algorithm("prioritized-dqn", "Prioritized double DQN (Schaul et al. 2016): proportional "
                                  "replay α 0.6, β 0.4 → 1."),
    _algorithm("c51", "C51 (Bellemare et al. 2017): a categorical return distribution on 51 atoms."),
    _algorithm("rainbow", "Rainbow (Hessel et al. 2018): double, dueling, prioritized (α 0.5), "
                          "3-step, C51 and noisy nets; ε-greedy off."),
]
"""The DQN family's agents (registered by :mod:`apexrl.agents`), in ``--help`` order."""
