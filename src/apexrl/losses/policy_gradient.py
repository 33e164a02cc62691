"""Policy-gradient formulas of the actor-critic agents (``a2c``, ``ppo``): advantage estimates,
returns, the clipped surrogate, the value loss and the policy distributions' log-probabilities.

Rollouts are time-major: ``[T, E]`` for ``T`` agent steps of ``E`` environments. Step ``t`` of env
``e`` holds ``r_t`` (the reward of the action taken in ``s_t``), ``terminated_t`` / ``truncated_t``
(the episode ended at ``s_{t+1}``), ``V(s_t)`` (``values``) and ``next_values_t``: ``V(s_{t+1})``
of the next observation, or ``V`` of the *final* observation of a truncated episode (the actor
evaluates it before the env resets; Pardo et al. 2018, "Time Limits in Reinforcement Learning").

GAE(λ) (Schulman et al. 2016, "High-Dimensional Continuous Control Using Generalized Advantage
Estimation", eq. 16), with ``d_t = terminated_t or truncated_t``:

    δ_t = r_t + γ (1 − terminated_t) next_values_t − V(s_t)
    Â_t = δ_t + γ λ (1 − d_t) Â_{t+1},     Â_T = 0
    R_t = Â_t + V(s_t)                     (the value target)

A termination bootstraps nothing; a truncation bootstraps from its final observation and cuts
the recursion (the next step belongs to a new episode). The last step of a rollout bootstraps
from ``V(s_T)``. With λ = 1, ``R_t`` is the n-step return of A2C / A3C (Mnih et al. 2016,
Algorithm S3): ``R_t = r_t + γ (1 − terminated_t) (d_t ? next_values_t : R_{t+1})`` with
``R_{T−1}`` bootstrapped from ``V(s_T)`` (:func:`nstep_returns`).

PPO (Schulman et al. 2017, "Proximal Policy Optimization Algorithms", eq. 7 and 9), with
``ρ_t = π_θ(a_t|s_t) / π_old(a_t|s_t)`` against the behaviour policy's log-probability:

    L^CLIP = −mean_t min(ρ_t Â_t, clip(ρ_t, 1 − ε, 1 + ε) Â_t)
    L^V    = ½ mean_t max((V_θ(s_t) − R_t)², (V_old + clip(V_θ − V_old, −ε_v, ε_v) − R_t)²)
    L      = L^CLIP + c_1 L^V − c_2 mean_t H[π_θ(·|s_t)]

The clipped value loss is the OpenAI baselines / CleanRL one (the PPO paper's eq. 9 has the
plain squared error; ``clip_range_vf = None`` gives it).
"""

from __future__ import annotations

import math

import torch

from apexrl.losses.sac import squashed_gaussian_log_prob

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _check_rollout(**arrays: torch.Tensor) -> tuple[int, int]:
    shapes = {name: tuple(a.shape) for name, a in arrays.items()}
    first = next(iter(shapes.values()))
    if len(first) != 2 or any(s != first for s in shapes.values()):
        raise ValueError(f"rollout arrays must all be [T, E]; got {shapes}")
    return first


def gae_advantages(rewards: torch.Tensor, values: torch.Tensor, next_values: torch.Tensor,
                   terminated: torch.Tensor, truncated: torch.Tensor, gamma: float,
                   gae_lambda: float) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE(λ) advantages and value targets of a rollout (formulas: the module docstring).

    Args:
        rewards, values, next_values: ``[T, E]`` float.
        terminated, truncated: ``[T, E]`` bool (or 0/1).
        gamma: discount γ per agent step, in ``[0, 1]``.
        gae_lambda: λ in ``[0, 1]`` (0: one-step TD errors; 1: Monte-Carlo / n-step returns).

    Returns: ``(advantages Â [T, E], returns R = Â + V [T, E])`` in the dtype of ``rewards``.

    Raises:
        ValueError: arrays that are not all ``[T, E]``, or γ / λ outside ``[0, 1]``.
    """
    t_len, _ = _check_rollout(rewards=rewards, values=values, next_values=next_values, terminated=terminated,
                              truncated=truncated)
    if not (0.0 <= gamma <= 1.0) or not (0.0 <= gae_lambda <= 1.0):
        raise ValueError(f"gamma={gamma} and gae_lambda={gae_lambda} must lie in [0, 1]")
    dtype = rewards.dtype
    not_term = 1.0 - terminated.to(dtype)
    not_done = 1.0 - (terminated.bool() | truncated.bool()).to(dtype)
    deltas = rewards + gamma * not_term * next_values.to(dtype) - values.to(dtype)
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in range(t_len - 1, -1, -1):
        running = deltas[t] + gamma * gae_lambda * not_done[t] * running
        advantages[t] = running
    return advantages, advantages + values.to(dtype)


def nstep_returns(rewards: torch.Tensor, next_values: torch.Tensor, terminated: torch.Tensor,
                  truncated: torch.Tensor, gamma: float) -> torch.Tensor:
    """The n-step returns of A2C / A3C (Mnih et al. 2016, Algorithm S3) written as a recursion:
    ``R_t = r_t + γ (1 − terminated_t) (d_t ? next_values_t : R_{t+1})``, ``R_{T−1}`` from
    ``next_values_{T−1} = V(s_T)`` (equal to :func:`gae_advantages`'s returns at λ = 1).

    Args: as :func:`gae_advantages`. Returns: ``[T, E]`` in the dtype of ``rewards``.

    Raises:
        ValueError: arrays that are not all ``[T, E]``, or γ outside ``[0, 1]``.
    """
    t_len, _ = _check_rollout(rewards=rewards, next_values=next_values, terminated=terminated, truncated=truncated)
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma={gamma} must lie in [0, 1]")
    dtype = rewards.dtype
    term = terminated.bool()
    done = term | truncated.bool()
    returns = torch.zeros_like(rewards)
    following = next_values[t_len - 1].to(dtype)
    for t in range(t_len - 1, -1, -1):
        bootstrap = torch.where(done[t], next_values[t].to(dtype), following)
        returns[t] = rewards[t] + gamma * (~term[t]).to(dtype) * bootstrap
        following = returns[t]
    return returns


def normalize_advantages(advantages: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``(Â − mean Â) / (std Â + eps)`` over all elements (PPO implementations normalize per
    minibatch: CleanRL ``norm_adv``, SB3 ``normalize_advantage``). A single element gives ``Â − Â``."""
    if advantages.numel() < 2:
        return advantages - advantages.mean()
    return (advantages - advantages.mean()) / (advantages.std() + eps)


def clipped_surrogate_loss(log_prob: torch.Tensor, old_log_prob: torch.Tensor, advantages: torch.Tensor,
                           clip_range: float) -> tuple[torch.Tensor, dict[str, float]]:
    """PPO's ``L^CLIP = −mean min(ρ Â, clip(ρ, 1 − ε, 1 + ε) Â)``, ``ρ = exp(log π − log π_old)``.

    Where the clipped term is the smaller one (ρ > 1 + ε with Â > 0, ρ < 1 − ε with Â < 0) the
    gradient with respect to ``log_prob`` is zero.

    Args:
        log_prob: ``[N]`` ``log π_θ(a|s)`` (differentiable).
        old_log_prob: ``[N]`` behaviour log-probabilities (constants).
        advantages: ``[N]`` (constants; normalized or not, as the caller chooses).
        clip_range: ε >= 0 (an annealed ε reaches 0 at the end of a run).

    Returns: ``(loss scalar, metrics)``: ``learner/clip_fraction`` (share of ``|ρ − 1| > ε``) and
    ``learner/approx_kl`` (``mean((ρ − 1) − log ρ)``, Schulman's low-variance KL estimator, as CleanRL).

    Raises:
        ValueError: ``clip_range < 0`` or shapes that differ.
    """
    if not clip_range >= 0:
        raise ValueError(f"clip_range={clip_range} must be >= 0")
    if log_prob.shape != old_log_prob.shape or log_prob.shape != advantages.shape:
        raise ValueError(f"log_prob {tuple(log_prob.shape)}, old_log_prob {tuple(old_log_prob.shape)} and "
                         f"advantages {tuple(advantages.shape)} must have one shape")
    log_ratio = log_prob - old_log_prob.detach()
    ratio = log_ratio.exp()
    adv = advantages.detach()
    loss = -torch.min(ratio * adv, ratio.clamp(1.0 - clip_range, 1.0 + clip_range) * adv).mean()
    with torch.no_grad():
        metrics = {"learner/clip_fraction": float(((ratio - 1.0).abs() > clip_range).float().mean()),
                   "learner/approx_kl": float(((ratio - 1.0) - log_ratio).mean())}
    return loss, metrics


def vanilla_pg_loss(log_prob: torch.Tensor, advantages: torch.Tensor) -> torch.Tensor:
    """A2C's policy loss ``−mean Â log π_θ(a|s)`` (Mnih et al. 2016, Algorithm S3), ``[N]`` each."""
    if log_prob.shape != advantages.shape:
        raise ValueError(f"log_prob {tuple(log_prob.shape)} and advantages {tuple(advantages.shape)} differ")
    return -(advantages.detach() * log_prob).mean()


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor,
               clip_range_vf: float | None) -> torch.Tensor:
    """``½ mean (V − R)²``, or with ``clip_range_vf`` the clipped form (module docstring), ``[N]`` each.

    Raises:
        ValueError: shapes that differ, or ``clip_range_vf <= 0``.
    """
    if values.shape != returns.shape or old_values.shape != returns.shape:
        raise ValueError(f"values {tuple(values.shape)}, old_values {tuple(old_values.shape)} and returns "
                         f"{tuple(returns.shape)} must have one shape")
    target = returns.detach()
    plain = (values - target).pow(2)
    if clip_range_vf is None:
        return 0.5 * plain.mean()
    if not clip_range_vf > 0:
        raise ValueError(f"clip_range_vf={clip_range_vf} must be > 0 (or None)")
    old = old_values.detach()
    clipped = old + (values - old).clamp(-clip_range_vf, clip_range_vf)
    return 0.5 * torch.max(plain, (clipped - target).pow(2)).mean()


# ---------------------------------------------------------------------------- distributions
def categorical_log_prob(logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """``log softmax(logits)[a]``: logits ``[N, A]``, actions ``[N]`` int64 → ``[N]``."""
    return torch.log_softmax(logits, dim=-1).gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)


def categorical_entropy(logits: torch.Tensor) -> torch.Tensor:
    """``−Σ_a p_a log p_a`` of ``softmax(logits)``: ``[N, A]`` → ``[N]``."""
    log_p = torch.log_softmax(logits, dim=-1)
    return -(log_p.exp() * log_p).sum(dim=-1)


def gaussian_log_prob(u: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """Diagonal Gaussian ``log N(u; mean, exp(log_std)²)`` summed over the last dimension:
    ``[N, d]`` each (``log_std`` broadcasts, e.g. ``[d]``) → ``[N]``."""
    return (-0.5 * ((u - mean) * torch.exp(-log_std)).pow(2) - log_std - _HALF_LOG_2PI).sum(dim=-1)


def gaussian_entropy(log_std: torch.Tensor, batch: int) -> torch.Tensor:
    """``Σ_j (½ log(2πe) + log σ_j)`` of a diagonal Gaussian, repeated ``[batch]`` (state-independent σ)."""
    h = (log_std + 0.5 + _HALF_LOG_2PI).sum(dim=-1)
    return h.expand(batch) if h.dim() == 0 else h


def squashed_log_prob(u: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """``log π(tanh(u)|s)`` with the tanh change of variables (SAC's formula,
    :func:`apexrl.losses.sac.squashed_gaussian_log_prob`; ``log_std`` broadcast to ``mean``)."""
    return squashed_gaussian_log_prob(u, mean, log_std.expand_as(mean))


def squashed_entropy_estimate(u: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """A one-sample estimate ``−log π(tanh(u)|s)`` of the squashed Gaussian's entropy (it has no
    closed form; SB3 does the same for its squashed distributions), ``[N]``."""
    return -squashed_log_prob(u, mean, log_std)


__all__ = ["categorical_entropy", "categorical_log_prob", "clipped_surrogate_loss", "gae_advantages",
           "gaussian_entropy", "gaussian_log_prob", "normalize_advantages", "nstep_returns",
           "squashed_entropy_estimate", "squashed_log_prob", "value_loss", "vanilla_pg_loss"]
