"""The Ape-X n-step double-Q loss against a hand-worked example."""

import pytest
import torch
from torch import nn

from apexrl.losses import TorchBatch, double_q_targets, dqn_loss


class Table(nn.Module):
    """Q network that looks up a row per integer state: obs [B, 1] -> q [B, A]."""

    def __init__(self, rows):
        super().__init__()
        self.table = nn.Parameter(torch.tensor(rows, dtype=torch.float32))

    def forward(self, obs):
        return self.table[obs[:, 0].long()]


ONLINE = [[1.0, 2.0], [0.5, -1.0], [3.0, 5.0], [10.0, 0.0]]
TARGET = [[0.0, 0.0], [0.0, 0.0], [4.0, 1.0], [7.0, 8.0]]


def batch(weights=(1.0, 0.5)):
    # item 0: s=0, a=1, R^(3)=1.5, discount γ^3 = 0.729, s'=2
    # item 1: s=1, a=0, R=2.0, terminated inside the window: discount 0, s'=3
    return TorchBatch(
        obs=torch.tensor([[0.0], [1.0]]),
        action=torch.tensor([1, 0]),
        reward=torch.tensor([1.5, 2.0]),
        discount=torch.tensor([0.729, 0.0]),
        next_obs=torch.tensor([[2.0], [3.0]]),
        weights=torch.tensor(weights),
    )


def test_double_q_target_uses_online_argmax_and_target_value():
    b = batch()
    online, target = Table(ONLINE), Table(TARGET)
    g = double_q_targets(online(b.next_obs), target(b.next_obs), b.reward, b.discount)
    # online argmax at s'=2 is action 1 (5.0 > 3.0); target value of action 1 is 1.0
    assert g.tolist() == pytest.approx([1.5 + 0.729 * 1.0, 2.0])
    # plain DQN: the target's own max at s'=2 is 4.0
    g_plain = double_q_targets(None, target(b.next_obs), b.reward, b.discount)
    assert g_plain.tolist() == pytest.approx([1.5 + 0.729 * 4.0, 2.0])


def test_dqn_loss_hand_worked_mse_and_priorities():
    out = dqn_loss(Table(ONLINE), Table(TARGET), batch(), double=True, loss_type="mse")
    d0 = (1.5 + 0.729 * 1.0) - 2.0  # 0.229
    d1 = 2.0 - 0.5  # 1.5
    expected = (1.0 * 0.5 * d0**2 + 0.5 * 0.5 * d1**2) / 2
    assert float(out.loss.detach()) == pytest.approx(expected, rel=1e-6)
    assert out.priorities.tolist() == pytest.approx([d0, d1], rel=1e-5)
    assert out.metrics["learner/loss"] == pytest.approx(expected, rel=1e-6)


def test_dqn_loss_double_off_uses_target_argmax():
    out = dqn_loss(Table(ONLINE), Table(TARGET), batch(), double=False)
    d0 = (1.5 + 0.729 * 4.0) - 2.0
    assert out.priorities.tolist() == pytest.approx([d0, 1.5], rel=1e-5)


def test_dqn_loss_huber_and_gradient_only_through_taken_action():
    online = Table(ONLINE)
    out = dqn_loss(online, Table(TARGET), batch(weights=(1.0, 1.0)), loss_type="huber")
    d0, d1 = 0.229, 1.5
    expected = (0.5 * d0**2 + (d1 - 0.5)) / 2  # quadratic below 1, linear above
    assert float(out.loss.detach()) == pytest.approx(expected, rel=1e-5)
    out.loss.backward()
    grad = online.table.grad
    # only q(s=0, a=1) and q(s=1, a=0) receive gradient; the bootstrap rows (2, 3) do not
    assert grad[0, 0] == 0 and grad[1, 1] == 0
    assert torch.all(grad[2:] == 0)
    assert float(grad[0, 1]) == pytest.approx(-d0 / 2, rel=1e-5)
    assert float(grad[1, 0]) == pytest.approx(-1.0 / 2, rel=1e-5)


def test_unknown_loss_type_raises():
    with pytest.raises(ValueError, match="loss_type"):
        dqn_loss(Table(ONLINE), Table(TARGET), batch(), loss_type="l1")
