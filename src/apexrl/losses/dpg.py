"""Deterministic-policy-gradient losses: DDPG (Lillicrap et al. 2015), TD3 (Fujimoto et al.
2018), Ape-X DPG (Horgan et al. 2018) and D4PG (Barth-Maron et al. 2018).

With n-step returns ``R`` and ``discount = γ^k`` (0 when the episode terminated inside the
window), from the n-step adder (:class:`~apexrl.losses.TorchBatch`; ``action`` is ``[B, d]``
float32 in ``[-1, 1]`` here):

    a'  = μ⁻(s')                                              (DDPG, Ape-X DPG, D4PG)
    a'  = clip(μ⁻(s') + clip(ε, −c, c), −1, 1),  ε ~ N(0, σ̃²)  (TD3: target policy smoothing)
    y   = R + discount · min_k Q⁻_k(s', a')                   (min over 1 or 2 critics: TD3's clipped double-Q)
    L_Q = mean_t w_t · Σ_k (y_t − Q_k(s_t, a_t))²              (w: PER importance weights)
    L_μ = −mean_t Q_1(s_t, μ(s_t))                            (the deterministic policy gradient)

Priorities are ``|y − Q_1(s, a)|``. D4PG replaces the scalar critic by a categorical one:

    m   = Φ(p⁻(s', μ⁻(s')), R, discount)                      (:func:`apexrl.losses.c51.categorical_projection`)
    L_Z = mean_t w_t · (−Σ_i m_i log p_i(s_t, a_t))           (cross-entropy; also the priorities)
    L_μ = −mean_t Σ_i z_i p_i(s_t, μ(s_t))
"""

from __future__ import annotations

import torch
from torch import nn

from apexrl.losses.c51 import categorical_projection
from apexrl.losses.dqn import LossOutput, TorchBatch


def smoothed_target_actions(next_actions: torch.Tensor, noise: torch.Tensor | None,
                            noise_clip: float) -> torch.Tensor:
    """TD3's target policy smoothing: ``clip(a' + clip(noise, −c, c), −1, 1)``.

    Args:
        next_actions: ``[B, d]`` ``μ⁻(s')`` in ``[-1, 1]``.
        noise: ``[B, d]`` ``ε ~ N(0, σ̃²)`` already scaled by σ̃ (the caller draws it, so tests can
            fix it), or ``None`` for no smoothing (DDPG): ``next_actions`` is returned.
        noise_clip: ``c`` (TD3: 0.5).

    Raises:
        ValueError: ``noise`` of another shape than ``next_actions``.
    """
    if noise is None:
        return next_actions
    if noise.shape != next_actions.shape:
        raise ValueError(f"noise {tuple(noise.shape)} must match the actions {tuple(next_actions.shape)}")
    return (next_actions + noise.clamp(-noise_clip, noise_clip)).clamp(-1.0, 1.0)


def dpg_critic_targets(q_next: torch.Tensor, reward: torch.Tensor, discount: torch.Tensor) -> torch.Tensor:
    """``y = R + discount · min_k Q⁻_k(s', a')``.

    Args:
        q_next: ``[B]`` (one critic) or ``[K, B]`` (K critics, the minimum is taken).
        reward: ``[B]`` n-step returns. discount: ``[B]`` γ^k or 0.

    Returns: ``[B]`` targets, detached.
    """
    with torch.no_grad():
        bootstrap = q_next if q_next.dim() == 1 else q_next.min(dim=0).values
        return reward + discount * bootstrap


def dpg_critic_loss(critic: nn.Module, target_policy: nn.Module, target_critic: nn.Module, batch: TorchBatch, *,
                    target_noise: torch.Tensor | None = None, noise_clip: float = 0.5) -> LossOutput:
    """The scalar critic's loss (DDPG / TD3 / Ape-X DPG); see the module docstring.

    Args:
        critic: ``(obs, action) -> [B]`` or ``[K, B]`` (:class:`~apexrl.nets.continuous.Critic` /
            :class:`~apexrl.nets.continuous.TwinCritic`).
        target_policy: μ⁻, ``obs -> [B, d]``.
        target_critic: Q⁻, the critic's architecture.
        batch: observations already prepared (``networks.prepare``).
        target_noise: TD3's scaled smoothing noise ``[B, d]`` or ``None``.
        noise_clip: TD3's ``c``.

    Returns: :class:`~apexrl.losses.LossOutput` with priorities ``|y − Q_1|`` and metrics
    ``learner/loss``, ``learner/td_abs_mean``, ``learner/q_mean`` (``Q_1`` of the taken actions).
    """
    with torch.no_grad():
        next_actions = smoothed_target_actions(target_policy(batch.next_obs), target_noise, noise_clip)
        targets = dpg_critic_targets(target_critic(batch.next_obs, next_actions), batch.reward, batch.discount)
    return critic_regression(critic(batch.obs, batch.action), targets, batch.weights)


def critic_regression(q: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> LossOutput:
    """``L = mean_t w_t · Σ_k (y_t − Q_k(s_t, a_t))²`` for ``K`` critics, with priorities
    ``|y − Q_1|`` (the scalar critics of DDPG / TD3 / Ape-X DPG and SAC's soft critics).

    Args:
        q: ``[B]`` (one critic) or ``[K, B]``, with gradient. targets: ``[B]`` detached.
        weights: ``[B]`` PER importance weights (ones for uniform replay).

    Returns: :class:`~apexrl.losses.LossOutput` with metrics ``learner/loss``,
    ``learner/td_abs_mean``, ``learner/q_mean`` (``Q_1`` of the taken actions).
    """
    q_all = q.unsqueeze(0) if q.dim() == 1 else q  # [K, B]
    td = targets.unsqueeze(0) - q_all
    loss = (weights * td.pow(2).sum(dim=0)).mean()
    abs_td = td[0].detach().abs()
    metrics = {"learner/loss": float(loss.detach()), "learner/td_abs_mean": float(abs_td.mean()),
               "learner/q_mean": float(q_all[0].detach().mean())}
    return LossOutput(loss, abs_td, metrics)


def d4pg_critic_loss(critic: nn.Module, target_policy: nn.Module, target_critic: nn.Module,
                     batch: TorchBatch) -> LossOutput:
    """D4PG's categorical critic loss: cross-entropy against the projected n-step target
    distribution (see the module docstring).

    Args:
        critic: :class:`~apexrl.nets.continuous.CategoricalCritic` (logits ``[B, N]``, ``support [N]``).
        target_policy, target_critic: μ⁻ and the target critic (same support).
        batch: prepared observations, actions ``[B, d]``.

    Returns: :class:`~apexrl.losses.LossOutput` with priorities = the per-item cross-entropy and
    metrics ``learner/loss``, ``learner/td_abs_mean`` (``|E[target] − E[Z(s, a)]|``, for
    comparison with the scalar critics), ``learner/q_mean`` (``E[Z(s, a)]``).

    Raises:
        ValueError: critics whose supports differ.
    """
    support = critic.support
    if not torch.equal(support, target_critic.support):
        raise ValueError("online and target critics must share the same support")
    with torch.no_grad():
        next_actions = target_policy(batch.next_obs)
        next_probs = torch.softmax(target_critic(batch.next_obs, next_actions), dim=-1)
        m = categorical_projection(next_probs, batch.reward, batch.discount, support)
    log_p = torch.log_softmax(critic(batch.obs, batch.action), dim=-1)
    ce = -(m * log_p).sum(dim=-1)
    loss = (batch.weights * ce).mean()
    with torch.no_grad():
        q_taken = (log_p.exp() * support).sum(dim=-1)
        td_abs = ((m * support).sum(dim=-1) - q_taken).abs()
    metrics = {"learner/loss": float(loss.detach()), "learner/td_abs_mean": float(td_abs.mean()),
               "learner/q_mean": float(q_taken.mean())}
    return LossOutput(loss, ce.detach(), metrics)


def dpg_actor_loss(policy: nn.Module, critic: nn.Module, obs: torch.Tensor) -> torch.Tensor:
    """``L_μ = −mean Q_1(s, μ(s))`` (the critic's ``q``: ``Q_1`` of twin critics, ``E[Z]`` of the
    categorical critic). Its gradient in μ's parameters is the deterministic policy gradient
    ``−mean ∇_a Q(s, a)|_{a=μ(s)} ∇_θ μ(s)`` (Silver et al. 2014). Gradients also reach the
    critic's parameters unless they are frozen (the learner freezes them for this loss).

    Args:
        policy: μ, ``obs -> [B, d]``. critic: with ``q(obs, action) -> [B]``. obs: prepared ``[B, ...]``.

    Returns: the scalar loss.
    """
    return -critic.q(obs, policy(obs)).mean()
