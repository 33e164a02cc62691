"""The R2D2 learning rule (Kapturowski et al. 2019, "Recurrent Experience Replay in Distributed
Reinforcement Learning", §2-3): value rescaling, n-step double-Q targets over a replayed
sequence, and the per-sequence priority mixture.

Value rescaling (Pohlen et al. 2018), with ε = 1e-3::

    h(x)   = sign(x) (√(|x| + 1) − 1) + ε x
    h⁻¹(x) = sign(x) (((√(1 + 4ε(|x| + 1 + ε)) − 1) / (2ε))² − 1)

n-step double-Q target of step ``t`` of a sequence (``k = min(n, steps left in the valid part)``,
``d_i = 0`` where the episode terminated after step ``i``, 1 otherwise)::

    G_t = Σ_{i<k} γ^i (Π_{j<i} d_{t+j}) r_{t+i} + γ^k (Π_{j<k} d_{t+j}) h⁻¹(Q(s_{t+k}, a*; θ⁻)),
    a*  = argmax_a Q(s_{t+k}, a; θ)
    δ_t = h(G_t) − Q(s_t, a_t; θ)

Near the end of a sequence (or of an episode cut by a time limit) fewer than ``n`` steps are left
and the target bootstraps from the last observation held (as rlax's
``n_step_bootstrapped_returns``). Priority of a sequence (R2D2 §2.3): ``p = η·max_t|δ_t| +
(1−η)·mean_t|δ_t|`` over its loss steps, η = 0.9.
"""

from __future__ import annotations

import torch

__all__ = ["inverse_value_rescale", "n_step_double_q_targets", "sequence_priorities", "value_rescale"]


def value_rescale(x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """``h(x) = sign(x)(√(|x|+1) − 1) + εx`` elementwise (any shape, floating dtype)."""
    return torch.sign(x) * (torch.sqrt(torch.abs(x) + 1.0) - 1.0) + eps * x


def inverse_value_rescale(x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """The exact inverse ``h⁻¹`` of :func:`value_rescale` (elementwise; ``eps > 0``).

    Raises:
        ValueError: ``eps <= 0`` (h is then not invertible in this closed form).
    """
    if not eps > 0:
        raise ValueError(f"value rescaling eps must be > 0, got {eps}")
    root = torch.sqrt(1.0 + 4.0 * eps * (torch.abs(x) + 1.0 + eps))
    return torch.sign(x) * (((root - 1.0) / (2.0 * eps)) ** 2 - 1.0)


def n_step_double_q_targets(reward: torch.Tensor, discount: torch.Tensor, mask: torch.Tensor,
                            bootstrap: torch.Tensor, gamma: float, n_step: int) -> torch.Tensor:
    """n-step returns ``G_t`` of every step of a batch of sequences (see the module docstring).

    Args:
        reward: ``[B, T]`` float32 ``r_t``, the reward after the action of step ``t``.
        discount: ``[B, T]`` float32, 0 where the episode terminated after step ``t`` else 1.
        mask: ``[B, T]`` bool, steps that are real (a contiguous block per row; padding False).
        bootstrap: ``[B, T + 1]`` float32 values ``h⁻¹(Q(s_j, a*_j; θ⁻))`` (unrescaled) of the
            observations ``j = 0..T``; index ``t + k`` is the bootstrap of step ``t``.
        gamma: γ per agent step. n_step: ``n >= 1``.

    Returns: ``[B, T]`` float32 ``G_t`` (unrescaled); undefined (but finite) where ``mask`` is False.
    """
    b, t_len = reward.shape
    ret = torch.zeros_like(reward)
    scale = torch.ones_like(reward)  # γ^i Π_{j<i} d_{t+j} for the steps taken so far
    alive = mask.clone()  # step t+i is inside the valid window of t
    steps = torch.zeros(b, t_len, dtype=torch.long, device=reward.device)
    for i in range(n_step):
        if i > 0:
            shifted = torch.zeros_like(mask)
            shifted[:, : t_len - i] = mask[:, i:]
            alive = alive & shifted
        r_i = torch.zeros_like(reward)
        d_i = torch.zeros_like(discount)
        r_i[:, : t_len - i] = reward[:, i:]
        d_i[:, : t_len - i] = discount[:, i:]
        a = alive.to(reward.dtype)
        ret = ret + a * scale * r_i
        scale = torch.where(alive, scale * gamma * d_i, scale)
        steps = steps + alive.long()
    index = torch.arange(t_len, device=reward.device).unsqueeze(0) + steps  # t + k, in [t, T]
    value = bootstrap.gather(1, index.clamp(max=t_len))
    return ret + scale * value


def sequence_priorities(td_abs: torch.Tensor, mask: torch.Tensor, eta: float = 0.9) -> torch.Tensor:
    """``p = η·max_t|δ_t| + (1−η)·mean_t|δ_t|`` over the masked steps of each sequence.

    Args:
        td_abs: ``[B, T]`` ``|δ_t|`` (non-negative). mask: ``[B, T]`` bool loss steps.
        eta: η in ``[0, 1]`` (R2D2: 0.9).

    Returns: ``[B]`` priorities; 0 for a sequence without a loss step.

    Raises:
        ValueError: ``eta`` outside ``[0, 1]``.
    """
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"priority eta must be in [0, 1], got {eta}")
    m = mask.to(td_abs.dtype)
    count = m.sum(dim=1)
    mean = (td_abs * m).sum(dim=1) / count.clamp(min=1.0)
    largest = torch.where(mask, td_abs, torch.zeros_like(td_abs)).amax(dim=1)
    return eta * largest + (1.0 - eta) * mean
