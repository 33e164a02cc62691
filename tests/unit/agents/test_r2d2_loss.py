"""R2D2's loss pieces against hand-computed values: h, h⁻¹, n-step double-Q targets, the priority mixture."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from apexrl.losses.r2d2 import inverse_value_rescale, n_step_double_q_targets, sequence_priorities, value_rescale


def test_value_rescale_hand_computed():
    x = torch.tensor([0.0, 3.0, -3.0, 8.0, 99.0], dtype=torch.float64)
    # h(3) = √4 − 1 + 0.003 = 1.003; h(8) = 3 − 1 + 0.008; h(99) = 10 − 1 + 0.099
    expected = torch.tensor([0.0, 1.003, -1.003, 2.008, 9.099], dtype=torch.float64)
    torch.testing.assert_close(value_rescale(x, 1e-3), expected)
    torch.testing.assert_close(inverse_value_rescale(expected, 1e-3), x)


def test_inverse_is_exact_over_a_wide_range():
    x = torch.cat([-torch.logspace(-6, 6, 500, dtype=torch.float64), torch.zeros(1, dtype=torch.float64),
                   torch.logspace(-6, 6, 500, dtype=torch.float64)])
    back = inverse_value_rescale(value_rescale(x))
    torch.testing.assert_close(back, x, rtol=1e-9, atol=1e-9)
    y = torch.linspace(-500, 500, 1001, dtype=torch.float64)
    torch.testing.assert_close(value_rescale(inverse_value_rescale(y)), y, rtol=1e-9, atol=1e-9)


def test_inverse_rejects_non_positive_eps():
    with pytest.raises(ValueError, match="eps must be > 0"):
        inverse_value_rescale(torch.zeros(1), 0.0)


def _brute_targets(r, d, mask, v, gamma, n):
    b, t_len = r.shape
    out = np.zeros((b, t_len))
    for i in range(b):
        valid = np.flatnonzero(mask[i])
        end = valid.max() + 1 if len(valid) else 0
        for t in range(t_len):
            if not mask[i, t]:
                continue
            k = min(n, end - t)
            g, scale = 0.0, 1.0
            for j in range(k):
                g += scale * r[i, t + j]
                scale *= gamma * d[i, t + j]
            out[i, t] = g + scale * v[i, t + k]
    return out


def test_n_step_targets_against_hand_and_brute_force():
    # one sequence of 4 real steps, terminated after step 2 (discount 0), padded at 3
    r = torch.tensor([[1.0, 2.0, 3.0, 0.0]])
    d = torch.tensor([[1.0, 1.0, 0.0, 1.0]])
    mask = torch.tensor([[True, True, True, False]])
    v = torch.tensor([[10.0, 20.0, 30.0, 40.0, 50.0]])
    g = n_step_double_q_targets(r, d, mask, v, 0.5, 2)
    # t=0: 1 + .5·2 + .25·v2 = 2 + 7.5; t=1: 2 + .5·3 + 0 (terminated); t=2: 3 + 0
    torch.testing.assert_close(g[0, :3], torch.tensor([9.5, 3.5, 3.0]))
    rng = np.random.default_rng(0)
    r = rng.normal(size=(6, 9))
    d = (rng.random((6, 9)) > 0.2).astype(float)
    mask = np.zeros((6, 9), dtype=bool)
    for i in range(6):
        lo, hi = sorted(rng.choice(10, 2, replace=False))
        mask[i, lo:hi] = True
    v = rng.normal(size=(6, 10))
    for n in (1, 3, 5):
        got = n_step_double_q_targets(torch.tensor(r), torch.tensor(d), torch.tensor(mask), torch.tensor(v), 0.9, n)
        expected = _brute_targets(r, d, mask, v, 0.9, n)
        np.testing.assert_allclose(got.numpy()[mask], expected[mask], rtol=1e-12)


def test_sequence_priorities_mixture():
    td = torch.tensor([[1.0, 3.0, 2.0, 100.0], [0.5, 0.5, 0.5, 0.5]])
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    p = sequence_priorities(td, mask, 0.9)
    torch.testing.assert_close(p, torch.tensor([0.9 * 3 + 0.1 * 2, 0.5]))
    assert math.isclose(float(sequence_priorities(td, mask, 0.0)[0]), 2.0)
    assert math.isclose(float(sequence_priorities(td, mask, 1.0)[0]), 3.0)
    assert float(sequence_priorities(td, torch.zeros_like(mask), 0.9)[0]) == 0.0
    with pytest.raises(ValueError, match="eta"):
        sequence_priorities(td, mask, 1.5)
