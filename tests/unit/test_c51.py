"""C51 (Bellemare et al. 2017): the categorical projection, the loss and the networks, against
hand-worked examples and a loop-based reference of Algorithm 1."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from apexrl.losses import TorchBatch
from apexrl.losses.c51 import c51_loss, categorical_projection
from apexrl.nets import QNetwork
from apexrl.nets.distributional import (
    CategoricalHead,
    CategoricalQNetwork,
    build_categorical_q_network,
    categorical_q_values,
    make_support,
)
from apexrl.nets.noisy import NoisyLinear

SUPPORT5 = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0])  # Δz = 1, b = Tz + 2


# ---------------------------------------------------------------------------------------------
# projection


def test_projection_hand_worked():
    p = torch.tensor([
        [0.1, 0.2, 0.3, 0.25, 0.15],
        [0.2, 0.2, 0.2, 0.2, 0.2],
        [0.4, 0.3, 0.1, 0.1, 0.1],
        [0.1, 0.2, 0.3, 0.25, 0.15],
        [0.1, 0.2, 0.3, 0.25, 0.15],
        [0.1, 0.2, 0.3, 0.25, 0.15],
    ])
    reward = torch.tensor([1.0, 1.5, -1.75, 0.25, 5.0, -1.0])
    discount = torch.tensor([0.5, 1.0, 0.5, 0.0, 0.0, 0.0])
    m = categorical_projection(p, reward, discount, SUPPORT5)
    expected = [
        # item 0, r=1, γ=0.5: Tz = 1 + 0.5·[-2,-1,0,1,2] = [0, 0.5, 1, 1.5, 2] (none clamped)
        #   b = [2, 2.5, 3, 3.5, 4]: exact atom, between, exact, between, exact at v_max
        #   m[2] = 0.1 + 0.2·0.5 = 0.2
        #   m[3] = 0.2·0.5 + 0.3 + 0.25·0.5 = 0.525
        #   m[4] = 0.25·0.5 + 0.15 = 0.275
        [0.0, 0.0, 0.2, 0.525, 0.275],
        # item 1, r=1.5, γ=1: Tz = [-0.5, 0.5, 1.5, 2.5, 3.5] → clamp → [-0.5, 0.5, 1.5, 2, 2]
        #   b = [1.5, 2.5, 3.5, 4, 4]; each p = 0.2
        #   m[1] = 0.1; m[2] = 0.1 + 0.1; m[3] = 0.1 + 0.1; m[4] = 0.1 + 0.2 + 0.2 = 0.5
        [0.0, 0.1, 0.2, 0.2, 0.5],
        # item 2, r=-1.75, γ=0.5: Tz = [-2.75, -2.25, -1.75, -1.25, -0.75] → [-2, -2, -1.75, -1.25, -0.75]
        #   b = [0, 0, 0.25, 0.75, 1.25]
        #   m[0] = 0.4 + 0.3 + 0.1·0.75 + 0.1·0.25 = 0.8
        #   m[1] = 0.1·0.25 + 0.1·0.75 + 0.1·0.75 = 0.175
        #   m[2] = 0.1·0.25 = 0.025
        [0.8, 0.175, 0.025, 0.0, 0.0],
        # item 3, terminal, r=0.25: every Tz = 0.25, b = 2.25 → m[2] = 0.75, m[3] = 0.25
        [0.0, 0.0, 0.75, 0.25, 0.0],
        # item 4, terminal, r=5: clamp to v_max = 2, b = 4 → all mass on the last atom
        [0.0, 0.0, 0.0, 0.0, 1.0],
        # item 5, terminal, r=-1: exactly on atom 1 (l == u): all mass stays there, none lost
        [0.0, 1.0, 0.0, 0.0, 0.0],
    ]
    for row, exp in zip(m.tolist(), expected):
        assert row == pytest.approx(exp, abs=1e-6)
    assert m.sum(dim=1).tolist() == pytest.approx([1.0] * 6, abs=1e-6)


def test_projection_identity_when_every_target_is_on_an_atom():
    # r = 0, γ = 1: Tz_j = z_j, b_j = j exactly, l == u everywhere → m == p exactly
    p = torch.tensor([[0.05, 0.15, 0.3, 0.4, 0.1]])
    m = categorical_projection(p, torch.tensor([0.0]), torch.tensor([1.0]), SUPPORT5)
    assert torch.equal(m, p)
    # shift by a whole atom: r = 1 moves each p_j one atom up, the top two pile onto v_max
    m = categorical_projection(p, torch.tensor([1.0]), torch.tensor([1.0]), SUPPORT5)
    assert m[0].tolist() == pytest.approx([0.0, 0.05, 0.15, 0.3, 0.5], abs=1e-7)


def test_projection_non_unit_spacing():
    # support [0, 10, 20] (Δz = 10); r = 3, γ = 0.9: Tz = [3, 12, 21] → [3, 12, 20]
    # b = [0.3, 1.2, 2.0]; p = [0.5, 0.25, 0.25]
    # m[0] = 0.5·0.7 = 0.35;  m[1] = 0.5·0.3 + 0.25·0.8 = 0.35;  m[2] = 0.25·0.2 + 0.25 = 0.3
    support = make_support(0.0, 20.0, 3)
    m = categorical_projection(torch.tensor([[0.5, 0.25, 0.25]]), torch.tensor([3.0]), torch.tensor([0.9]), support)
    assert m[0].tolist() == pytest.approx([0.35, 0.35, 0.3], abs=1e-6)


def _reference_projection(p: list[float], r: float, d: float, z: list[float]) -> list[float]:
    """Bellemare et al. 2017, Algorithm 1, one item at a time in Python floats."""
    n = len(z)
    v_min, v_max = z[0], z[-1]
    dz = (v_max - v_min) / (n - 1)
    m = [0.0] * n
    for j in range(n):
        tz = min(max(r + d * z[j], v_min), v_max)
        b = min(max((tz - v_min) / dz, 0.0), n - 1.0)
        lo, up = math.floor(b), math.ceil(b)
        if lo == up:
            m[lo] += p[j]
        else:
            m[lo] += p[j] * (up - b)
            m[up] += p[j] * (b - lo)
    return m


@st.composite
def _projection_case(draw):
    batch = draw(st.integers(1, 4))
    n = draw(st.integers(2, 11))
    v_min = draw(st.floats(-10.0, 5.0))
    v_max = v_min + draw(st.floats(0.5, 20.0))
    raw = draw(st.lists(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n), min_size=batch, max_size=batch))
    probs = torch.tensor(raw, dtype=torch.float64) + 1e-3
    probs = probs / probs.sum(dim=1, keepdim=True)
    reward = torch.tensor(draw(st.lists(st.floats(-25.0, 25.0), min_size=batch, max_size=batch)),
                          dtype=torch.float64)
    discount = torch.tensor(draw(st.lists(st.sampled_from([0.0, 1.0]) | st.floats(0.0, 1.0),
                                          min_size=batch, max_size=batch)), dtype=torch.float64)
    support = make_support(v_min, v_max, n, dtype=torch.float64)
    return probs, reward, discount, support


@settings(max_examples=150, deadline=None)
@given(_projection_case())
def test_projection_matches_loop_reference(case):
    probs, reward, discount, support = case
    m = categorical_projection(probs, reward, discount, support)
    z = support.tolist()
    for i in range(probs.shape[0]):
        ref = _reference_projection(probs[i].tolist(), float(reward[i]), float(discount[i]), z)
        assert m[i].tolist() == pytest.approx(ref, abs=1e-9)
    assert m.sum(dim=1).tolist() == pytest.approx([1.0] * probs.shape[0], abs=1e-9)
    assert bool((m >= 0).all())
    # linear interpolation keeps the mean of the clamped targets: Σ z m = Σ_j p_j clamp(r + γ z_j)
    clamped = (reward[:, None] + discount[:, None] * support).clamp(z[0], z[-1])
    assert (m * support).sum(1).tolist() == pytest.approx((probs * clamped).sum(1).tolist(), abs=1e-8)


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 21), st.floats(0.0, 1.0), st.floats(-1.0, 1.0), st.integers(0, 2**31 - 1))
def test_projection_mean_is_bellman_mean_when_nothing_clamped(n, gamma, r_frac, seed):
    # support [-V, V]; |r| ≤ V(1 − γ) keeps every r + γ z_j inside it, so E[m] = r + γ E_p[z]
    v = 10.0
    support = make_support(-v, v, n, dtype=torch.float64)
    r = r_frac * v * (1.0 - gamma)
    g = torch.Generator().manual_seed(seed)
    p = torch.softmax(torch.randn(1, n, generator=g, dtype=torch.float64), dim=1)
    f64 = torch.float64
    m = categorical_projection(p, torch.tensor([r], dtype=f64), torch.tensor([gamma], dtype=f64), support)
    assert float((m * support).sum()) == pytest.approx(r + gamma * float((p * support).sum()), abs=1e-9)


def test_projection_float32_full_size_batch():
    g = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(256, 51, generator=g), dim=1)
    support = make_support(-10, 10, 51)
    m = categorical_projection(p, torch.randn(256, generator=g), torch.full((256,), 0.99), support)
    assert m.shape == (256, 51) and m.dtype == torch.float32
    assert torch.allclose(m.sum(1), torch.ones(256), atol=1e-5)


@pytest.mark.parametrize("shapes, name", [
    (((5,), (2,), (2,), (5,)), "next_probs"),
    (((2, 5), (2,), (2,), (4,)), "support"),
    (((2, 1), (2,), (2,), (1,)), "support"),
    (((2, 5), (3,), (2,), (5,)), "reward"),
    (((2, 5), (2,), (2, 1), (5,)), "discount"),
])
def test_projection_bad_shapes_raise(shapes, name):
    p, r, d, s = (torch.zeros(sh) for sh in shapes)
    with pytest.raises(ValueError, match=name):
        categorical_projection(p, r, d, s)


# ---------------------------------------------------------------------------------------------
# loss


class TableHead(nn.Module):
    """Logits looked up per integer state: features [B, 1] -> logits [B, A, N] = log(probs)."""

    def __init__(self, probs):
        super().__init__()
        self.table = nn.Parameter(torch.tensor(probs, dtype=torch.float32).log())
        self.num_atoms = self.table.shape[-1]

    def forward(self, features):
        return self.table[features[:, 0].long()]


SUPPORT3 = [-1.0, 0.0, 1.0]
U = [1 / 3, 1 / 3, 1 / 3]
ONLINE = [
    [[0.2, 0.3, 0.5], [0.1, 0.6, 0.3]],  # s0
    [[0.25, 0.5, 0.25], [0.1, 0.8, 0.1]],  # s1
    [[0.1, 0.2, 0.7], [0.6, 0.2, 0.2]],  # s2: Q = [0.6, -0.4] → online argmax a0
    [U, U],  # s3
]
TARGET = [
    [U, U],
    [U, U],
    [[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]],  # s2: Q = [-0.3, 0.7] → target argmax a1
    [U, U],
]


def table_net(probs):
    return CategoricalQNetwork(nn.Identity(), TableHead(probs), SUPPORT3)


def c51_batch(weights=(1.0, 0.5)):
    # item 0: s=0, a=1, R=0.5, discount 0.5, s'=2
    # item 1: s=1, a=0, R=-0.4, terminal (discount 0), s'=3
    return TorchBatch(
        obs=torch.tensor([[0.0], [1.0]]),
        action=torch.tensor([1, 0]),
        reward=torch.tensor([0.5, -0.4]),
        discount=torch.tensor([0.5, 0.0]),
        next_obs=torch.tensor([[2.0], [3.0]]),
        weights=torch.tensor(weights),
    )


# item 0: Tz = 0.5 + 0.5·[-1, 0, 1] = [0, 0.5, 1], b = Tz + 1 = [1, 1.5, 2]
#   double (a* = 0, target p = [0.5, 0.3, 0.2]):  m = [0, 0.5 + 0.15, 0.15 + 0.2] = [0, 0.65, 0.35]
#   plain  (a* = 1, target p = [0.1, 0.1, 0.8]):  m = [0, 0.1 + 0.05, 0.05 + 0.8] = [0, 0.15, 0.85]
#   online p(s0, a1) = [0.1, 0.6, 0.3]
CE0_DOUBLE = -(0.65 * math.log(0.6) + 0.35 * math.log(0.3))
CE0_PLAIN = -(0.15 * math.log(0.6) + 0.85 * math.log(0.3))
# item 1: terminal, Tz = -0.4, b = 0.6 → m = [0.4, 0.6, 0]; online p(s1, a0) = [0.25, 0.5, 0.25]
CE1 = -(0.4 * math.log(0.25) + 0.6 * math.log(0.5))


def test_c51_loss_hand_worked_double():
    out = c51_loss(table_net(ONLINE), table_net(TARGET), c51_batch(), double=True)
    expected = (1.0 * CE0_DOUBLE + 0.5 * CE1) / 2
    assert float(out.loss.detach()) == pytest.approx(expected, rel=1e-5)
    assert out.priorities.tolist() == pytest.approx([CE0_DOUBLE, CE1], rel=1e-5)
    assert not out.priorities.requires_grad
    assert out.metrics["learner/loss"] == pytest.approx(expected, rel=1e-5)
    assert out.metrics["learner/ce_mean"] == pytest.approx((CE0_DOUBLE + CE1) / 2, rel=1e-5)
    # Q(s0, a1) = -0.1 + 0.3 = 0.2, Q(s1, a0) = -0.25 + 0.25 = 0 → mean 0.1
    assert out.metrics["learner/q_mean"] == pytest.approx(0.1, abs=1e-6)


def test_c51_loss_plain_uses_target_argmax():
    out = c51_loss(table_net(ONLINE), table_net(TARGET), c51_batch(), double=False)
    assert CE0_PLAIN != pytest.approx(CE0_DOUBLE)
    assert out.priorities.tolist() == pytest.approx([CE0_PLAIN, CE1], rel=1e-5)
    assert float(out.loss.detach()) == pytest.approx((CE0_PLAIN + 0.5 * CE1) / 2, rel=1e-5)


def test_c51_loss_gradient_only_through_taken_logits():
    online = table_net(ONLINE)
    target = table_net(TARGET)
    c51_loss(online, target, c51_batch(), double=True).loss.backward()
    grad = online.head.table.grad
    # ∂CE/∂logits = p − m, times w/B:
    #   s0,a1: (1/2)·([0.1, 0.6, 0.3] − [0, 0.65, 0.35]) = [0.05, -0.025, -0.025]
    #   s1,a0: (0.5/2)·([0.25, 0.5, 0.25] − [0.4, 0.6, 0]) = [-0.0375, -0.025, 0.0625]
    assert grad[0, 1].tolist() == pytest.approx([0.05, -0.025, -0.025], abs=1e-6)
    assert grad[1, 0].tolist() == pytest.approx([-0.0375, -0.025, 0.0625], abs=1e-6)
    assert torch.all(grad[0, 0] == 0) and torch.all(grad[1, 1] == 0)
    assert torch.all(grad[2:] == 0)  # the online argmax at s' carries no gradient
    assert target.head.table.grad is None


def test_c51_loss_rejects_mismatched_support_and_plain_q_network():
    other = CategoricalQNetwork(nn.Identity(), TableHead(TARGET), [-2.0, 0.0, 2.0])
    with pytest.raises(ValueError, match="support"):
        c51_loss(table_net(ONLINE), other, c51_batch())
    plain = QNetwork(nn.Identity(), nn.Identity())
    with pytest.raises(ValueError, match="online"):
        c51_loss(plain, table_net(TARGET), c51_batch())


# ---------------------------------------------------------------------------------------------
# networks


def test_network_forward_is_expected_value_of_dist():
    net = table_net(ONLINE)
    obs = torch.tensor([[0.0], [2.0]])
    assert net.logits(obs).shape == (2, 2, 3)
    d = net.dist(obs)
    assert torch.allclose(d.sum(-1), torch.ones(2, 2))
    q = net(obs)
    # s0: a0 = -0.2 + 0.5 = 0.3, a1 = 0.2;  s2: a0 = 0.6, a1 = -0.4
    assert q[0].tolist() == pytest.approx([0.3, 0.2], abs=1e-6)
    assert q[1].tolist() == pytest.approx([0.6, -0.4], abs=1e-6)
    assert q.argmax(dim=1).tolist() == [0, 0]
    assert torch.allclose(categorical_q_values(net.logits(obs), net.support), q)
    assert "support" in net.state_dict() and net.num_atoms == 3


def test_dueling_categorical_head_by_hand():
    head = CategoricalHead(1, 2, 3, dueling=True)
    with torch.no_grad():
        head.value.weight.copy_(torch.tensor([[1.0], [2.0], [3.0]]))
        head.value.bias.zero_()
        head.advantage.weight.copy_(torch.tensor([[1.0], [0.0], [0.0], [0.0], [0.0], [2.0]]))
        head.advantage.bias.zero_()
    logits = head(torch.tensor([[1.0]]))
    # v = [1, 2, 3]; a0 = [1, 0, 0], a1 = [0, 0, 2]; mean_a = [0.5, 0, 1]
    # a0: [1 + 1 − 0.5, 2, 3 − 1] = [1.5, 2, 2];  a1: [1 − 0.5, 2, 3 + 2 − 1] = [0.5, 2, 4]
    assert logits.shape == (1, 2, 3)
    assert logits[0, 0].tolist() == pytest.approx([1.5, 2.0, 2.0])
    assert logits[0, 1].tolist() == pytest.approx([0.5, 2.0, 4.0])


def test_plain_head_reshapes_action_major():
    head = CategoricalHead(1, 2, 3, dueling=False)
    with torch.no_grad():
        head.advantage.weight.copy_(torch.arange(6.0).unsqueeze(1))
        head.advantage.bias.zero_()
    assert head(torch.tensor([[1.0]]))[0].tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


def test_noisy_head_uses_noisy_layers_and_eval_is_deterministic():
    torch.manual_seed(0)
    head = CategoricalHead(4, 3, 5, dueling=True, hidden=8, noisy=True)
    assert sum(isinstance(m, NoisyLinear) for m in head.modules()) == 4
    assert not any(type(m) is nn.Linear for m in head.modules())
    x = torch.randn(2, 4)
    head.train()
    y1 = head(x)
    for m in head.modules():
        if isinstance(m, NoisyLinear):
            m.reset_noise()
    assert not torch.allclose(head(x), y1)
    head.eval()
    assert torch.equal(head(x), head(x))


def test_build_categorical_q_network_vector():
    torch.manual_seed(0)
    net = build_categorical_q_network("vector", (4,), 2, (16, 8), dueling=True, num_atoms=11, v_min=-5, v_max=5)
    assert net.support.tolist() == pytest.approx([float(v) for v in range(-5, 6)])
    obs = torch.randn(3, 4)
    assert net.logits(obs).shape == (3, 2, 11)
    assert net(obs).shape == (3, 2)
    assert net.head.dueling and net.torso.out_dim == 16
    noisy = build_categorical_q_network("vector", (4,), 2, (16,), dueling=False, noisy=True)
    assert noisy.num_atoms == 51 and isinstance(noisy.head.advantage, NoisyLinear)


@pytest.mark.parametrize("args, name", [
    ((1.0, 1.0, 5), "v_min"),
    ((-1.0, 1.0, 1), "num_atoms"),
    ((float("inf"), 1.0, 5), "finite"),
])
def test_make_support_invalid(args, name):
    with pytest.raises(ValueError, match=name):
        make_support(*args)


def test_network_and_head_invalid_arguments():
    with pytest.raises(ValueError, match="evenly spaced"):
        CategoricalQNetwork(nn.Identity(), nn.Identity(), [0.0, 1.0, 3.0])
    with pytest.raises(ValueError, match="evenly spaced"):
        CategoricalQNetwork(nn.Identity(), nn.Identity(), [1.0, 0.0, -1.0])
    with pytest.raises(ValueError, match="num_atoms"):
        CategoricalQNetwork(nn.Identity(), CategoricalHead(2, 2, 5, dueling=False), [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="num_atoms"):
        CategoricalHead(2, 2, 1, dueling=False)
    with pytest.raises(ValueError, match="hidden"):
        CategoricalHead(2, 2, 3, dueling=True, hidden=-1)


def test_c51_loss_double_single_online_pass_equals_two_passes():
    """The double loss runs the online network once on [s; s']; a two-pass reference with the
    same noise gives the same loss, priorities and gradients."""
    from apexrl.nets.distributional import build_categorical_q_network

    torch.manual_seed(5)
    online = build_categorical_q_network("vector", (4,), 3, (16, 16), True, num_atoms=11, v_min=0.0, v_max=20.0,
                                         noisy=True).train()
    target = build_categorical_q_network("vector", (4,), 3, (16, 16), True, num_atoms=11, v_min=0.0, v_max=20.0,
                                         noisy=True).train()
    b = TorchBatch(obs=torch.randn(6, 4), action=torch.tensor([0, 1, 2, 0, 1, 2]), reward=torch.rand(6) * 3,
                   discount=torch.tensor([0.97, 0.97, 0.0, 0.97, 0.5, 0.97]), next_obs=torch.randn(6, 4),
                   weights=torch.rand(6) + 0.5)
    out = c51_loss(online, target, b, double=True)
    out.loss.backward()
    grads = [p.grad.clone() for p in online.parameters()]
    online.zero_grad()
    # reference: two online passes, as Rainbow writes it
    support = online.support
    logits = online.logits(b.obs)
    log_p = torch.log_softmax(logits[torch.arange(6), b.action], dim=-1)
    with torch.no_grad():
        next_probs = torch.softmax(target.logits(b.next_obs), dim=-1)
        best = online(b.next_obs).argmax(dim=1)
        m = categorical_projection(next_probs[torch.arange(6), best], b.reward, b.discount, support)
    ce = -(m * log_p).sum(-1)
    ref = (b.weights * ce).mean()
    ref.backward()
    assert float(out.loss.detach()) == pytest.approx(float(ref.detach()), rel=1e-5)
    assert torch.allclose(out.priorities, ce.detach(), rtol=1e-5)
    for g, p in zip(grads, online.parameters()):
        assert torch.allclose(g, p.grad, rtol=1e-4, atol=1e-7)
