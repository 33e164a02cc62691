"""The R2D2 learner (Kapturowski et al. 2019, §2.3 and §3): one :meth:`R2D2Learner.update` unrolls
the online and target networks over a batch of replayed sequences from their stored LSTM state
(or from zeros, ``--no-stored-state``), runs the ``burn_in`` prefix without gradient, computes the
n-step double-Q loss with value rescaling on the remaining steps (:mod:`apexrl.losses.r2d2`),
takes an Adam step with global-norm clipping, copies the target every ``target_update_period``
learner steps and returns the sequence priorities ``η·max|δ| + (1−η)·mean|δ|``.

Where an episode starts inside a sequence (the burn-in of an episode's first sequence is padding,
:mod:`apexrl.replay.sequence`), the state is reset to zeros at the episode's first step.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from apexrl.agents.common import adam, count_outcome, guarded_step
from apexrl.losses.r2d2 import inverse_value_rescale, n_step_double_q_targets, sequence_priorities, value_rescale
from apexrl.runtime.device import to_device
from apexrl.runtime.optim_state import load_optimizer_tensors, optimizer_tensors
from apexrl.types import SampledBatch

__all__ = ["R2D2Learner", "unroll"]

State = tuple[torch.Tensor, torch.Tensor]


def _reset(state: State, rows: torch.Tensor) -> State:
    keep = (~rows).to(state[0].dtype).unsqueeze(1)
    return state[0] * keep, state[1] * keep


def unroll(network: nn.Module, inputs: torch.Tensor, state: State, first_step: torch.Tensor, burn_in: int,
           grad: bool) -> torch.Tensor:
    """Q-values ``[B, T + 1 − burn_in, A]`` of the steps ``burn_in … T`` of a batch of sequences.

    The steps ``0 … burn_in − 1`` are unrolled without gradient from ``state`` (the burn-in); the
    state is reset to zeros before step ``first_step[b]`` of every sequence ``b`` whose episode
    starts inside it; the rest is unrolled with gradient when ``grad`` is True.

    Args:
        network: a :class:`~apexrl.nets.recurrent.RecurrentQNetwork`.
        inputs: ``[B, T + 1, D]`` LSTM inputs (``network.core_inputs``); the burn-in part may be
            computed without gradient.
        state: ``(h, c)`` each ``[B, H]``. first_step: ``[B]`` int64 (−1: none).
        burn_in: steps unrolled without gradient.
    """
    starts = sorted({0, burn_in} | {int(f) for f in first_step.tolist() if 0 < f < burn_in})
    for a, b in zip(starts[:-1], starts[1:]):
        with torch.no_grad():
            state = _reset(state, first_step == a)
            _, state = network.unroll_inputs(inputs[:, a:b], state)
    state = _reset((state[0].detach(), state[1].detach()), first_step == burn_in)
    with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
        q, _ = network.unroll_inputs(inputs[:, burn_in:], state)
    return q


class R2D2Learner:
    """Online and target recurrent Q networks and Adam.

    Args:
        config: an :class:`apexrl.agents.r2d2.config.R2D2AgentConfig` (its ``learner`` group is
            the rule). info: the env's shapes. seed: network initialisation. device: where the
            networks live (default CPU).
    """

    def __init__(self, config: Any, info: Any, seed: int = 0, device: torch.device | str | None = None) -> None:
        from apexrl.agents.r2d2.policy import build_network

        self.config = config.learner
        self.device = torch.device(device or "cpu")
        torch.manual_seed(seed)
        self.online: nn.Module = build_network(config, info).to(self.device)
        self.target: nn.Module = copy.deepcopy(self.online)
        self.target.requires_grad_(False)
        self.learning_rate = self.config.learning_rate
        self.optimizer = adam(self.online.parameters(), self.learning_rate, self.config.optimizer_eps, self.device)
        self.steps = 0
        self.skipped_updates = 0
        self.consecutive_skipped = 0

    def acting_network(self) -> nn.Module:
        """The online network θ (published to actors and the evaluator)."""
        return self.online

    def set_progress(self, fraction: float) -> None:
        """Linear learning-rate decay to ``learning_rate_final`` (when set) over the budget."""
        final = self.config.learning_rate_final
        if final is not None:
            self.learning_rate = self.config.learning_rate + fraction * (final - self.config.learning_rate)
            for group in self.optimizer.param_groups:
                group["lr"] = self.learning_rate

    def loss(self, sample: SampledBatch) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        """``(loss, priorities [B] float32 (CPU, detached), metrics)`` of a batch of sequences."""
        cfg = self.config
        d = sample.data
        put = to_device(self.device)
        obs, action, reward = put(d.obs), put(d.action), put(d.reward)
        discount, mask, first_step = put(d.discount), put(d.mask), put(d.first_step).cpu()
        weights = put(sample.weights)
        b = action.shape[0]
        prev_action = torch.cat([put(d.prev_action).unsqueeze(1), action], dim=1)  # [B, T + 1]
        prev_reward = torch.cat([put(d.prev_reward).unsqueeze(1), reward], dim=1)
        if cfg.stored_state:
            stored = put(d.state)
            state = (stored[:, 0], stored[:, 1])
        else:
            state = self.online.initial_state(b, self.device)
        burn = cfg.burn_in
        with torch.no_grad():
            target_q = unroll(self.target, self.target.core_inputs(obs, prev_action, prev_reward), state,
                              first_step, burn, grad=False)
        inputs = self.online.core_inputs(obs[:, burn:], prev_action[:, burn:], prev_reward[:, burn:])
        if burn > 0:  # the burn-in's torso runs without gradient too
            with torch.no_grad():
                burn_inputs = self.online.core_inputs(obs[:, :burn], prev_action[:, :burn], prev_reward[:, :burn])
            inputs = torch.cat([burn_inputs, inputs], dim=1)
        q = unroll(self.online, inputs, state, first_step, burn, grad=True)
        eps = cfg.value_rescaling_epsilon
        a_star = q.detach().argmax(dim=2, keepdim=True)  # [B, m + 1, 1]
        boot = target_q.gather(2, a_star).squeeze(2)
        if cfg.value_rescaling:
            boot = inverse_value_rescale(boot, eps)
        loss_mask = mask[:, burn:]
        returns = n_step_double_q_targets(reward[:, burn:], discount[:, burn:], loss_mask, boot, cfg.gamma,
                                          cfg.n_step)
        targets = value_rescale(returns, eps) if cfg.value_rescaling else returns
        taken = action[:, burn:].clamp(min=0).unsqueeze(2)
        q_taken = q[:, :-1].gather(2, taken).squeeze(2)  # [B, m]
        td = targets.detach() - q_taken
        m = loss_mask.to(td.dtype)
        per_sequence = 0.5 * (td.pow(2) * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)
        loss = (weights * per_sequence).mean()
        td_abs = td.detach().abs()
        priorities = sequence_priorities(td_abs, loss_mask, cfg.priority_eta)
        count = float(m.sum().clamp(min=1.0))
        metrics = {"learner/loss": float(loss.detach()), "learner/td_abs_mean": float((td_abs * m).sum()) / count,
                   "learner/q_mean": float((q_taken.detach() * m).sum()) / count,
                   "learner/learning_rate": self.learning_rate}
        return loss, priorities.cpu(), metrics

    def update(self, sample: SampledBatch) -> tuple[np.ndarray, dict[str, float]]:
        """One learner step; returns ``(priorities [B] float32, metrics)``. A non-finite loss or
        gradient skips the step (counted); non-finite priorities become 0."""
        loss, priorities, metrics = self.loss(sample)
        ok, norm = guarded_step(self.optimizer, list(self.online.parameters()), loss, self.config.max_grad_norm)
        count_outcome(self, ok)
        metrics["learner/grad_norm"] = norm
        self.steps += 1
        if self.steps % self.config.target_update_period == 0:
            self.target.load_state_dict(self.online.state_dict())
        p = np.nan_to_num(priorities.numpy(), nan=0.0, posinf=0.0, neginf=0.0)
        return p.astype(np.float32, copy=False), metrics

    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """``(tensors, meta)``: ``online.*``, ``target.*``, ``optimizer.*`` and the step counters."""
        tensors = {f"online.{k}": v.detach().cpu() for k, v in self.online.state_dict().items()}
        tensors.update({f"target.{k}": v.detach().cpu() for k, v in self.target.state_dict().items()})
        opt_tensors, groups = optimizer_tensors("optimizer", self.optimizer)
        tensors.update(opt_tensors)
        meta = {"learner": "r2d2", "steps": self.steps, "skipped_updates": self.skipped_updates,
                "param_groups": groups, "learning_rate": self.learning_rate}
        return tensors, meta

    def load_state_dict(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`.

        Raises:
            ValueError: a checkpoint of another learner, or tensors that do not fit the networks or
                the optimizer (naming the mismatch).
        """
        if meta.get("learner") != "r2d2":
            raise ValueError(f"checkpoint holds a {meta.get('learner')!r} learner, not an 'r2d2' one")
        online = {k[len("online."):]: v for k, v in tensors.items() if k.startswith("online.")}
        target = {k[len("target."):]: v for k, v in tensors.items() if k.startswith("target.")}
        try:
            self.online.load_state_dict(online)
            self.target.load_state_dict(target)
            load_optimizer_tensors(self.optimizer, "optimizer", tensors, meta["param_groups"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise ValueError(f"checkpoint does not fit this network/optimizer: {exc}") from exc
        self.learning_rate = float(meta.get("learning_rate", self.config.learning_rate))
        self.steps = int(meta["steps"])
        self.skipped_updates = int(meta["skipped_updates"])
