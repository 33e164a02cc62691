"""Soft actor-critic losses (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and
Applications", arXiv 1812.05905: twin critics and automatic entropy temperature).

The policy is a squashed Gaussian: ``u ~ N(μ(s), σ(s)²)``, ``a = tanh(u)`` in ``(-1, 1)^d``, with
(ibid., Appendix C, eq. 26)

    log π(a|s) = Σ_j [ log N(u_j; μ_j, σ_j) − log(1 − tanh(u_j)²) ]
    log(1 − tanh(u)²) = 2·(log 2 − u − softplus(−2u))       (the numerically stable form)

With n-step returns ``R`` and ``discount`` (γ^k or 0) from the adder, α = exp(log α):

    a', log π' ~ π(·|s')
    y   = R + discount · (min_k Q⁻_k(s', a') − α log π')
    L_Q = mean_t w_t · Σ_k (y_t − Q_k(s_t, a_t))²
    L_π = mean_t (α log π(ã_t|s_t) − min_k Q_k(s_t, ã_t)),   ã ~ π(·|s) (reparameterized)
    L_α = −mean_t log α · (log π(ã_t|s_t) + H̄)               (H̄ = target entropy, −d)

The temperature loss is written with ``log α`` as in SB3 (``ent_coef_loss``); the paper's
eq. 18 and CleanRL use ``α`` itself, which has the same fixed point. Priorities are ``|y − Q_1|``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from apexrl.losses.dpg import critic_regression
from apexrl.losses.dqn import LossOutput, TorchBatch

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def squashed_gaussian_log_prob(u: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """``log π(tanh(u)|s)`` of the pre-squash sample ``u`` (see the module docstring).

    Args:
        u, mean, log_std: ``[B, d]``.

    Returns: ``[B]`` log-densities of ``a = tanh(u)`` (summed over the ``d`` components).
    """
    gaussian = -0.5 * ((u - mean) * torch.exp(-log_std)).pow(2) - log_std - _HALF_LOG_2PI
    log_det = 2.0 * (math.log(2.0) - u - nn.functional.softplus(-2.0 * u))  # log(1 - tanh(u)^2)
    return (gaussian - log_det).sum(dim=-1)


def sample_squashed_gaussian(mean: torch.Tensor, log_std: torch.Tensor,
                             noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reparameterized sample ``a = tanh(mean + exp(log_std)·noise)`` and its ``log π``.

    Args:
        mean, log_std: ``[B, d]`` from :class:`~apexrl.nets.continuous.GaussianPolicy`.
        noise: ``[B, d]`` standard normal draws (the caller's generator, so tests can fix them).

    Returns: ``(actions [B, d] in (-1, 1), log_prob [B])``; differentiable in ``mean`` / ``log_std``.

    Raises:
        ValueError: ``noise`` of another shape than ``mean``.
    """
    if noise.shape != mean.shape:
        raise ValueError(f"noise {tuple(noise.shape)} must match the mean {tuple(mean.shape)}")
    u = mean + torch.exp(log_std) * noise
    return torch.tanh(u), squashed_gaussian_log_prob(u, mean, log_std)


def sac_critic_targets(q_next: torch.Tensor, next_log_prob: torch.Tensor, reward: torch.Tensor,
                       discount: torch.Tensor, alpha: float | torch.Tensor) -> torch.Tensor:
    """``y = R + discount · (min_k Q⁻_k(s', a') − α log π(a'|s'))``.

    Args:
        q_next: ``[K, B]`` target critics at ``(s', a')`` (or ``[B]``); next_log_prob: ``[B]``.
        reward, discount: ``[B]``. alpha: the temperature α (not its log).

    Returns: ``[B]`` targets, detached.
    """
    with torch.no_grad():
        q_min = q_next if q_next.dim() == 1 else q_next.min(dim=0).values
        return reward + discount * (q_min - alpha * next_log_prob)


def sac_critic_loss(critic: nn.Module, target_critic: nn.Module, policy: nn.Module, batch: TorchBatch, *,
                    alpha: float | torch.Tensor, next_noise: torch.Tensor) -> LossOutput:
    """SAC's soft Q loss (see the module docstring).

    Args:
        critic, target_critic: :class:`~apexrl.nets.continuous.TwinCritic` (``[2, B]``).
        policy: :class:`~apexrl.nets.continuous.GaussianPolicy` (the online policy samples ``a'``).
        batch: prepared observations; actions ``[B, d]``.
        alpha: α (a float or a detached tensor).
        next_noise: ``[B, d]`` standard normal draws for ``a'``.

    Returns: :class:`~apexrl.losses.LossOutput` (priorities ``|y − Q_1|``; metrics ``learner/loss``,
    ``learner/td_abs_mean``, ``learner/q_mean``).
    """
    with torch.no_grad():
        mean, log_std = policy(batch.next_obs)
        next_actions, next_log_prob = sample_squashed_gaussian(mean, log_std, next_noise)
        targets = sac_critic_targets(target_critic(batch.next_obs, next_actions), next_log_prob,
                                     batch.reward, batch.discount, alpha)
    return critic_regression(critic(batch.obs, batch.action), targets, batch.weights)


def sac_actor_loss(policy: nn.Module, critic: nn.Module, obs: torch.Tensor, *, alpha: float | torch.Tensor,
                   noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``L_π = mean(α log π(ã|s) − min_k Q_k(s, ã))`` with reparameterized ``ã``.

    Args:
        policy: Gaussian policy; critic: twin critic (freeze its parameters for this loss);
        obs: prepared ``[B, ...]``; alpha: α; noise: ``[B, d]`` standard normal draws.

    Returns: ``(loss, log_prob [B] detached)``; the log-probabilities feed :func:`temperature_loss`.
    """
    mean, log_std = policy(obs)
    actions, log_prob = sample_squashed_gaussian(mean, log_std, noise)
    q = critic(obs, actions)
    q_min = q if q.dim() == 1 else q.min(dim=0).values
    return (alpha * log_prob - q_min).mean(), log_prob.detach()


def temperature_loss(log_alpha: torch.Tensor, log_prob: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """``L_α = −mean(log α · (log π + H̄))`` (SB3's form; see the module docstring). Its gradient in
    ``log α`` is ``−mean(log π + H̄)``: α grows while the entropy ``−log π`` is below ``H̄``.

    Args:
        log_alpha: scalar tensor (the trained parameter). log_prob: ``[B]`` (detached here).
        target_entropy: ``H̄`` (SAC: ``−d`` for ``d`` action dimensions).
    """
    return -(log_alpha * (log_prob.detach() + target_entropy)).mean()
