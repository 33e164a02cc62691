"""Gymnasium's own ``check_env`` over every env family :func:`apexrl.envs.make_env` builds.

Each family is one entry of ``CASES``; a new family (MuJoCo, DM Control, POPGym, ...) is one
more entry there. A check that cannot pass for a reason outside apexrl is written into its
entry as ``upstream_failure`` (the message ``check_env`` fails with) plus the reason, and the
test asserts that ``check_env`` fails exactly that way: it is not skipped, and the entry has
to be removed once upstream is fixed. An entry for an optional extra names the module the
extra installs in ``requires``: that case is skipped only when the module cannot be imported
(CI installs every extra).
"""

from __future__ import annotations

import pickle
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from apexrl.envs import make_env, register_env_families


@dataclass(frozen=True)
class Case:
    """One ``make_env`` configuration to check.

    Attributes:
        env_id: the Gymnasium id given to ``make_env``.
        training: ``make_env(training=...)``.
        make_kwargs: further ``make_env`` keyword arguments.
        upstream_failure: None if ``check_env`` must pass; else a regex of the message it
            fails with, for a cause outside apexrl (named in ``reason``).
        upstream_error: the exception type of that failure.
        reason: why ``upstream_failure`` is expected (library, version, what it does).
        known_warnings: regexes of ``check_env`` warnings expected for this env, each for a
            reason outside apexrl; any other warning fails the test.
        requires: the module an optional extra provides (``"mujoco"``, ``"dm_control"``);
            the case is skipped when it cannot be imported.
    """

    env_id: str
    training: bool
    make_kwargs: dict[str, Any] = field(default_factory=dict)
    upstream_failure: str | None = None
    upstream_error: type[Exception] = AssertionError
    reason: str = ""
    known_warnings: tuple[str, ...] = ()
    requires: str | None = None

    @property
    def id(self) -> str:
        return f"{self.env_id}-{'train' if self.training else 'eval'}"


# check_env warns that it is not given `env.unwrapped`: apexrl's wrappers are what is checked.
WRAPPED_WARNING = r"is different from the unwrapped version"
# CartPole declares an unbounded Box (velocities); Gymnasium's own env, not apexrl's wrappers.
CARTPOLE_WARNINGS = (
    r"A Box observation space minimum value is -infinity",
    r"A Box observation space maximum value is infinity",
)
UNBOUNDED_OBS_WARNINGS = CARTPOLE_WARNINGS  # MuJoCo and dm_control observations are unbounded too
# Gymnasium recommends [-1, 1] action bounds; Pendulum's torque is in [-2, 2] (the env's own).
UNNORMALIZED_ACTIONS_WARNING = r"For Box action spaces, we recommend using a symmetric and normalized space"

CASES = [
    Case("CartPole-v1", True, known_warnings=CARTPOLE_WARNINGS),
    Case("CartPole-v1", False, known_warnings=CARTPOLE_WARNINGS),
    # MinAtar 1.0.15 seeds only a legacy RandomState; apexrl.envs.minatar_wrappers.MinAtarSeeding
    # seeds np_random too, so the check passes (the raw env's failure is asserted below).
    Case("MinAtar/Breakout-v1", True),
    Case("MinAtar/Breakout-v1", False),
    Case("ALE/Pong-v5", True),
    Case("ALE/Pong-v5", False),
    Case("FrozenLake-v1", True),
    Case("Taxi-v4", False),
    Case("Pendulum-v1", True, known_warnings=(UNNORMALIZED_ACTIONS_WARNING,)),
    Case("MountainCarContinuous-v0", False),
    Case("HalfCheetah-v5", True, known_warnings=UNBOUNDED_OBS_WARNINGS, requires="mujoco"),
    # Shimmy's Dict observation, flattened and cast to float32; float64 actions declared float32.
    Case("dm_control/cartpole-swingup-v0", True, known_warnings=UNBOUNDED_OBS_WARNINGS, requires="dm_control"),
]


def _check(env: gym.Env) -> list[str]:
    """Run ``check_env`` and return the messages of the warnings it emitted.

    The render check is skipped: it makes a new env per declared render mode, ``"human"``
    included (an SDL/pygame window on a desktop, audio-device errors on a headless machine),
    which tests the display, not apexrl; apexrl never renders. The spec re-creation that
    check also relies on is tested directly in ``test_spec_recreates_the_wrapper_stack``.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=True)
    return [str(w.message) for w in caught]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_make_env_passes_gymnasium_check_env(case: Case):
    if case.requires:
        pytest.importorskip(case.requires)
    env = make_env(case.env_id, seed=0, training=case.training, **case.make_kwargs)
    try:
        if case.upstream_failure is not None:
            assert case.reason, f"{case.id}: an expected upstream failure needs its reason"
            with pytest.raises(case.upstream_error, match=case.upstream_failure):
                _check(env)
            return
        messages = _check(env)
    finally:
        env.close()
    allowed = (WRAPPED_WARNING, *case.known_warnings)
    unexpected = [m for m in messages if not any(re.search(p, m) for p in allowed)]
    assert unexpected == []
    assert any(re.search(WRAPPED_WARNING, m) for m in messages)  # the check really ran


def wrapper_chain(env: gym.Env) -> list[str]:
    names = []
    while hasattr(env, "env"):
        names.append(type(env).__name__)
        env = env.env
    return [*names, type(env).__name__]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_spec_recreates_the_wrapper_stack(case: Case):
    """``gym.make(env.spec)`` (also after pickling the spec) rebuilds the same env."""
    if case.requires:
        pytest.importorskip(case.requires)
    env = make_env(case.env_id, seed=7, training=case.training, **case.make_kwargs)
    spec = pickle.loads(pickle.dumps(env.spec))  # as a subprocess would receive it
    copies = [gym.make(env.spec), gym.make(spec)]
    chain = wrapper_chain(env)
    assert chain[0] == "ValidatedEnv" and chain.count("ValidatedEnv") == 2
    if case.env_id.startswith("ALE/"):
        assert ("EpisodicLifeEnv" in chain) is case.training
        assert ("ClipReward" in chain) is case.training
    obs, _ = env.reset()  # the recorded make_env seed (7) applies to the copies too
    actions = [env.action_space.sample() for _ in range(5)]
    steps = [env.step(a)[:3] for a in actions]
    for copy in copies:
        assert wrapper_chain(copy) == chain
        assert copy.observation_space == env.observation_space
        assert copy.action_space == env.action_space
        copy_obs, _ = copy.reset()
        np.testing.assert_array_equal(copy_obs, obs)
        for a, (o, r, term) in zip(actions, steps):
            o2, r2, term2, *_ = copy.step(a)
            np.testing.assert_array_equal(o2, o)
            assert (r2, term2) == (r, term)
        copy.close()
    env.close()


def test_raw_minatar_fails_the_seeding_check_upstream():
    """The upstream limitation MinAtarSeeding works around (MinAtar 1.0.15).

    ``minatar.gym.BaseEnv.reset(seed=s)`` seeds ``numpy.random.RandomState(s)`` and never
    calls ``gymnasium.Env.reset(seed=s)``, so ``np_random`` stays unseeded. If this test
    fails, MinAtar seeds ``np_random`` itself and ``MinAtarSeeding`` can go.
    """
    register_env_families()
    raw = gym.make("MinAtar/Breakout-v1", disable_env_checker=True)
    with pytest.raises(
        AssertionError,
        match="Expects the random number generator to have been generated given a seed",
    ):
        _check(raw.unwrapped)
    raw.close()


def test_minatar_seeding_matches_raw_minatar_and_seeds_np_random():
    register_env_families()
    raw = gym.make("MinAtar/Breakout-v1", disable_env_checker=True)
    env = make_env("MinAtar/Breakout-v1")
    raw_obs, _ = raw.reset(seed=11)
    obs, _ = env.reset(seed=11)
    assert env.unwrapped.np_random_seed == 11
    expected = np.random.Generator(np.random.PCG64(np.random.SeedSequence(11)))
    assert env.unwrapped.np_random.bit_generator.state == expected.bit_generator.state
    np.testing.assert_array_equal(obs, raw_obs.transpose(2, 0, 1).astype(np.uint8))
    # Same seed: the same game as raw MinAtar (sticky actions and ball start included).
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = int(rng.integers(3))
        raw_obs, raw_r, raw_term, *_ = raw.step(a)
        obs, r, term, *_ = env.step(a)
        np.testing.assert_array_equal(obs, raw_obs.transpose(2, 0, 1).astype(np.uint8))
        assert (r, term) == (raw_r, raw_term)
        if term:
            break
    # An unseeded reset leaves np_random as it is (Gymnasium's rule).
    state = env.unwrapped.np_random.bit_generator.state
    env.reset()
    assert env.unwrapped.np_random.bit_generator.state == state
    env.close()
    raw.close()
