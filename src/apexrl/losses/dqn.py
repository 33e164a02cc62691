"""The Ape-X DQN loss: n-step double Q-learning, importance weighted (Horgan et al. 2018).

    G_t = R_t^(n) + γ^n · q(S_{t+n}, argmax_a q(S_{t+n}, a; θ); θ⁻)      (double-Q bootstrap)
    δ_t = G_t − q(S_t, A_t; θ)
    l_t = ½ δ_t²   (or Huber(δ_t), DQN 2015)
    L   = mean_t w_t · l_t                                                (w: PER IS weights)

``R_t^(n)`` and ``γ^n`` come precomputed from the n-step adder (``reward`` and ``discount``;
``discount`` is 0 when the episode terminated inside the window, so nothing is bootstrapped).
New priorities are ``|δ_t|`` (Schaul et al. 2016).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class TorchBatch(NamedTuple):
    """A learner batch as tensors.

    Fields: obs ``[B, *obs_shape]`` (env dtype), action ``[B]`` int64, reward ``[B]`` float32
    (n-step return), discount ``[B]`` float32 (γ^k or 0), next_obs ``[B, *obs_shape]``,
    weights ``[B]`` float32 (importance weights; ones for uniform replay).
    """

    obs: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor
    discount: torch.Tensor
    next_obs: torch.Tensor
    weights: torch.Tensor


class LossOutput(NamedTuple):
    """loss: scalar tensor with grad; priorities: ``[B]`` float32 ``|δ|`` (detached, CPU);
    metrics: plain floats keyed ``learner/…``."""

    loss: torch.Tensor
    priorities: torch.Tensor
    metrics: dict[str, float]


def double_q_targets(q_next_online: torch.Tensor | None, q_next_target: torch.Tensor, reward: torch.Tensor,
                     discount: torch.Tensor) -> torch.Tensor:
    """n-step (double) Q-learning targets ``G = R + discount · q_target(s', a*)``.

    Args:
        q_next_online: ``[B, A]`` online Q-values of ``s'`` choosing ``a* = argmax``; ``None``
            for the plain DQN target ``a* = argmax q_target(s')``.
        q_next_target: ``[B, A]`` target-network Q-values of ``s'``.
        reward: ``[B]`` n-step returns. discount: ``[B]`` γ^k or 0.

    Returns: ``[B]`` float32 targets (no gradient flows through them).
    """
    with torch.no_grad():
        chooser = q_next_target if q_next_online is None else q_next_online
        best = chooser.argmax(dim=1, keepdim=True)
        bootstrap = q_next_target.gather(1, best).squeeze(1)
        return reward + discount * bootstrap


def dqn_loss(online: nn.Module, target: nn.Module, batch: TorchBatch, *, double: bool = True,
             loss_type: str = "mse") -> LossOutput:
    """Importance-weighted n-step (double) Q-learning loss; see the module docstring.

    Args:
        online: Q network θ, ``obs [B, *obs_shape] -> [B, A]``.
        target: target network θ⁻, same shapes.
        batch: :class:`TorchBatch`.
        double: use the online argmax (van Hasselt et al. 2016); else the target's own max.
        loss_type: ``"mse"`` (½δ², Ape-X) or ``"huber"`` (κ = 1).

    Raises:
        ValueError: unknown ``loss_type``.
    """
    if loss_type not in ("mse", "huber"):
        raise ValueError(f"unknown loss_type {loss_type!r}: expected 'mse' or 'huber'")
    q = online(batch.obs)
    with torch.no_grad():  # no backward through the bootstrap side: half the backward work
        q_next_online = online(batch.next_obs) if double else None
        q_next_target = target(batch.next_obs)
    targets = double_q_targets(q_next_online, q_next_target, batch.reward, batch.discount)
    q_taken = q.gather(1, batch.action.unsqueeze(1)).squeeze(1)
    td = targets - q_taken
    if loss_type == "mse":
        per_item = 0.5 * td.pow(2)
    else:
        per_item = nn.functional.huber_loss(q_taken, targets, reduction="none", delta=1.0)
    loss = (batch.weights * per_item).mean()
    abs_td = td.detach().abs()
    metrics = {
        "learner/loss": float(loss.detach()),
        "learner/td_abs_mean": float(abs_td.mean()),
        "learner/q_mean": float(q_taken.detach().mean()),
    }
    return LossOutput(loss, abs_td, metrics)
