"""GAE(λ) and n-step returns against hand-worked trajectories (termination and truncation inside
the rollout) and a brute-force oracle."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from apexrl.losses.policy_gradient import gae_advantages, nstep_returns

GAMMA, LAM = 0.9, 0.5


def _rollout():
    # [T=4, E=2]; env 0 terminates at t=1 (its next value 99 must be ignored), env 1 is truncated at
    # t=2 with V(final observation) = 7 (bootstrapped), both bootstrap V(s_4) at the last step.
    rewards = torch.tensor([[1.0, 1.0], [2.0, 1.0], [3.0, 1.0], [4.0, 1.0]], dtype=torch.float64)
    values = torch.tensor([[0.5, 1.0], [1.0, 1.0], [1.5, 1.0], [2.0, 1.0]], dtype=torch.float64)
    next_values = torch.tensor([[1.0, 1.0], [99.0, 1.0], [2.0, 7.0], [2.5, 3.0]], dtype=torch.float64)
    terminated = torch.tensor([[0, 0], [1, 0], [0, 0], [0, 0]], dtype=torch.bool)
    truncated = torch.tensor([[0, 0], [0, 0], [0, 1], [0, 0]], dtype=torch.bool)
    return rewards, values, next_values, terminated, truncated


def test_gae_hand_worked():
    r, v, nv, term, trunc = _rollout()
    adv, ret = gae_advantages(r, v, nv, term, trunc, GAMMA, LAM)
    # env 0: δ = [1 + .9·1 − .5, 2 − 1, 3 + .9·2 − 1.5, 4 + .9·2.5 − 2] = [1.4, 1.0, 3.3, 4.25]
    #   Â3 = 4.25, Â2 = 3.3 + .45·4.25 = 5.2125, Â1 = 1.0 (terminated: cut), Â0 = 1.4 + .45·1.0 = 1.85
    # env 1: δ = [.9, .9, 1 + .9·7 − 1, 1 + .9·3 − 1] = [.9, .9, 6.3, 2.7]
    #   Â3 = 2.7, Â2 = 6.3 (truncated: cut), Â1 = .9 + .45·6.3 = 3.735, Â0 = .9 + .45·3.735 = 2.58075
    expected = torch.tensor([[1.85, 2.58075], [1.0, 3.735], [5.2125, 6.3], [4.25, 2.7]], dtype=torch.float64)
    torch.testing.assert_close(adv, expected)
    torch.testing.assert_close(ret, expected + v)


def test_nstep_returns_hand_worked():
    r, _, nv, term, trunc = _rollout()
    ret = nstep_returns(r, nv, term, trunc, GAMMA)
    # env 0: R3 = 4 + .9·2.5 = 6.25, R2 = 3 + .9·6.25 = 8.625, R1 = 2 (terminal), R0 = 1 + .9·2 = 2.8
    # env 1: R3 = 1 + .9·3 = 3.7, R2 = 1 + .9·7 = 7.3 (final obs), R1 = 1 + .9·7.3 = 7.57, R0 = 7.813
    expected = torch.tensor([[2.8, 7.813], [2.0, 7.57], [8.625, 7.3], [6.25, 3.7]], dtype=torch.float64)
    torch.testing.assert_close(ret, expected)


def _oracle(r, v, nv, term, trunc, gamma, lam):
    """Â_t = Σ_l (γλ)^l δ_{t+l} over the steps of t's episode inside the rollout (a double loop)."""
    t_len, e = r.shape
    delta = r + gamma * (1 - term) * nv - v
    adv = np.zeros_like(r)
    for j in range(e):
        for t in range(t_len):
            total, w = 0.0, 1.0
            for k in range(t, t_len):
                total += w * delta[k, j]
                if term[k, j] or trunc[k, j]:
                    break
                w *= gamma * lam
            adv[t, j] = total
    return adv


@pytest.mark.parametrize("lam", [0.0, 0.7, 1.0])
def test_gae_against_brute_force(lam):
    rng = np.random.default_rng(3)
    t_len, e = 9, 5
    r = rng.normal(size=(t_len, e))
    v, nv = rng.normal(size=(t_len, e)), rng.normal(size=(t_len, e))
    term = rng.random((t_len, e)) < 0.15
    trunc = (rng.random((t_len, e)) < 0.15) & ~term
    # as an actor records them: V(s_{t+1}) is the next step's V(s_t) unless the episode ended there
    nv[:-1] = np.where(term[:-1] | trunc[:-1], nv[:-1], v[1:])
    adv, ret = gae_advantages(*(torch.from_numpy(a) for a in (r, v, nv, term, trunc)), 0.97, lam)
    np.testing.assert_allclose(adv.numpy(), _oracle(r, v, nv, term.astype(float), trunc, 0.97, lam), rtol=1e-12)
    if lam == 0.0:  # one-step TD errors
        np.testing.assert_allclose(adv.numpy(), r + 0.97 * (1 - term) * nv - v, rtol=1e-12)
    if lam == 1.0:  # GAE(1) value targets are the n-step returns of A2C
        np.testing.assert_allclose(ret.numpy(), nstep_returns(*(torch.from_numpy(a) for a in (r, nv, term, trunc)),
                                                              0.97).numpy(), rtol=1e-12)


def test_bad_arguments():
    r, v, nv, term, trunc = _rollout()
    with pytest.raises(ValueError, match=r"\[T, E\]"):
        gae_advantages(r, v[:3], nv, term, trunc, GAMMA, LAM)
    with pytest.raises(ValueError, match="gae_lambda=1.5"):
        gae_advantages(r, v, nv, term, trunc, GAMMA, 1.5)
    with pytest.raises(ValueError, match="gamma=-0.1"):
        nstep_returns(r, nv, term, trunc, -0.1)
