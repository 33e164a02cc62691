"""Per-actor ε (Ape-X) and parameter publication through shared memory."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from apexrl.agents.dqn.policy import apex_epsilon
from apexrl.runtime.params import LocalParams, SharedParams


@pytest.mark.parametrize("n", [2, 3, 8, 360])
def test_apex_epsilon_formula(n):
    for i in range(n):
        expected = 0.4 ** (1 + 7 * i / (n - 1))
        assert apex_epsilon(i, n) == pytest.approx(expected, rel=1e-12)
    assert apex_epsilon(0, n) == pytest.approx(0.4)
    assert apex_epsilon(n - 1, n) == pytest.approx(0.4**8)
    values = [apex_epsilon(i, n) for i in range(n)]
    assert values == sorted(values, reverse=True)


def test_apex_epsilon_hand_values_and_errors():
    assert apex_epsilon(1, 3) == pytest.approx(0.4**4.5)
    assert apex_epsilon(0, 1) == 0.4
    assert apex_epsilon(2, 5, epsilon=0.5, alpha=2.0) == pytest.approx(0.5**2)
    with pytest.raises(ValueError, match="actor index 3"):
        apex_epsilon(3, 3)


def test_shared_params_publish_pull_roundtrip_and_versions():
    torch.manual_seed(0)
    src, dst = nn.Linear(4, 3), nn.Linear(4, 3)
    params = SharedParams(src)
    assert params.version == 0
    assert params.pull(dst) == 0  # nothing published yet
    assert params.publish(src)
    assert params.version == 1
    assert params.pull(dst, have_version=0) == 1
    for a, b in zip(src.parameters(), dst.parameters()):
        assert torch.equal(a, b)
    # nothing newer: nothing copied
    with torch.no_grad():
        dst.weight.zero_()
    assert params.pull(dst, have_version=1) == 1
    assert torch.all(dst.weight == 0)


def test_nan_parameters_are_never_published():
    src, dst = nn.Linear(2, 2), nn.Linear(2, 2)
    params = SharedParams(src)
    assert params.publish(src)
    good = params.buffer.clone()
    with torch.no_grad():
        src.weight[0, 0] = math.nan
    assert not params.publish(src)
    assert params.version == 1
    assert torch.equal(params.buffer, good)
    params.pull(dst)
    assert torch.isfinite(dst.weight).all()


def test_roundtrip_keeps_channels_last_conv_network_identical():
    from apexrl.nets import build_q_network

    torch.manual_seed(1)
    src = build_q_network("atari", (4, 84, 84), 6, (512,), dueling=True)
    dst = build_q_network("atari", (4, 84, 84), 6, (512,), dueling=True)
    params = SharedParams(src)
    assert params.publish(src)
    params.pull(dst)
    obs = torch.randint(0, 256, (3, 4, 84, 84), dtype=torch.uint8)
    assert torch.equal(src(obs), dst(obs))
    assert dst.torso.convs[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_local_params_copy_at_pull_time_and_never_hand_out_nan():
    torch.manual_seed(1)
    src, dst = nn.Linear(4, 3), nn.Linear(4, 3)
    params = LocalParams()
    assert params.pull(dst) == 0  # nothing published yet
    assert params.publish(src) and params.version == 1
    with torch.no_grad():  # a later learner step before the actor pulls: the pull sees it
        src.weight.add_(1.0)
    assert params.pull(dst, have_version=0) == 1
    for a, b in zip(src.parameters(), dst.parameters()):
        assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()
    held = [p.clone() for p in dst.parameters()]
    with torch.no_grad():
        src.bias[1] = math.inf
    params.publish(src)
    assert params.pull(dst, have_version=1) == 1  # not finite: the actor keeps what it holds
    assert all(torch.equal(a, b) for a, b in zip(held, dst.parameters()))
    assert params.pull(dst, have_version=1) == 1


def test_environment_epsilons_spread_over_every_instance_of_the_run():
    from apexrl.agents.exploration import environment_epsilons

    # 2 actors x 4 envs: instances 0..7 of M = 8 get 0.4^(1 + 7 i / 7) = 0.4^(1 + i)
    both = np.concatenate([environment_epsilons(a, 2, 4) for a in range(2)])
    np.testing.assert_allclose(both, 0.4 ** (1.0 + np.arange(8)), rtol=1e-12)
    # one env per actor: exactly the per-actor rates
    np.testing.assert_allclose([environment_epsilons(a, 3, 1)[0] for a in range(3)], [apex_epsilon(a, 3) for a in range(3)])
    # the paper's per-actor wording: the actor's rate for all its envs
    np.testing.assert_allclose(environment_epsilons(1, 2, 4, per_env=False), np.full(4, 0.4**8))
    # one actor: single-actor DQN's one ε
    np.testing.assert_allclose(environment_epsilons(0, 1, 4, epsilon=0.1), np.full(4, 0.1))
    with pytest.raises(ValueError, match="actor index 2 outside"):
        environment_epsilons(2, 2, 4)
