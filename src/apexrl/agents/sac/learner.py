"""The SAC learner (Haarnoja et al. 2018, arXiv 1812.05905, Algorithm 1).

One :meth:`SACLearner.update` is one learner step: the soft Q loss of both critics
(:func:`apexrl.losses.sac.sac_critic_loss`) and one Adam step; every ``policy_delay`` steps the
policy loss (critics frozen) and, with ``autotune``, the temperature loss, each with one Adam
step; every ``target_update_period`` steps the Polyak update of the target critics. A step whose
loss or gradient is NaN / infinite is not applied (``skipped_updates``).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch

from apexrl.agents.common import (adam, count_outcome, guarded_step, learner_state, load_learner_state,
                                  scheduled_learning_rates, seeded_generator, soft_update, to_device_batch,
                                  update_obs_norm)
from apexrl.agents.sac.policy import build_network
from apexrl.losses.sac import sac_actor_loss, sac_critic_loss, temperature_loss
from apexrl.nets.continuous import SACNetworks, TwinCritic
from apexrl.types import SampledBatch

LEARNER_KIND = "sac"
_OPTIMIZERS = ("actor_optimizer", "critic_optimizer", "alpha_optimizer")


class SACLearner:
    """Holds the policy, the twin critics and their targets, log α and three Adam optimizers.

    Args:
        config: the full agent config (:class:`apexrl.agents.sac.config.SACAgentConfig`).
        info: :class:`apexrl.envs.EnvSpecInfo` (a bounded ``Box`` action space of ``d`` dimensions).
        seed: seeds the network initialisation and the policy samples of the losses.
        device: where networks and updates run.

    Raises:
        ValueError: the env's action space is not a bounded one-dimensional ``Box``.
    """

    def __init__(self, config: Any, info: Any, seed: int = 0, device: torch.device | str = "cpu") -> None:
        self.config = config
        self.lc = lc = config.learner
        self.device = torch.device(device)
        torch.manual_seed(seed)
        self.networks: SACNetworks = build_network(config, info).to(self.device)
        self.target_critic: TwinCritic = copy.deepcopy(self.networks.critic)
        self.target_critic.requires_grad_(False)
        self.act_dim = int(info.action_space.shape[0])
        self.target_entropy = float(-self.act_dim if lc.target_entropy is None else lc.target_entropy)
        self.log_alpha = torch.tensor(math.log(lc.init_alpha), dtype=torch.float32, device=self.device,
                                      requires_grad=True)
        self.actor_optimizer = adam(self.networks.policy.parameters(), lc.actor_learning_rate, lc.optimizer_eps,
                                    self.device)
        self.critic_optimizer = adam(self.networks.critic.parameters(), lc.critic_learning_rate, lc.optimizer_eps,
                                     self.device)
        self.alpha_optimizer = adam([self.log_alpha], lc.alpha_learning_rate, lc.optimizer_eps, self.device)
        self.generator = seeded_generator(seed, self.device)
        self.steps = 0
        self.skipped_updates = 0
        self.consecutive_skipped = 0
        self.last_actor_loss = float("nan")
        self.last_entropy = float("nan")

    def acting_network(self) -> SACNetworks:
        """The policy and the critics (actors sample from the policy)."""
        return self.networks

    def set_progress(self, fraction: float) -> None:
        """Linear step-size decay to ``learning_rate_final_fraction`` (if set) over the budget."""
        lc = self.lc
        scheduled_learning_rates([(self.actor_optimizer, lc.actor_learning_rate),
                                  (self.critic_optimizer, lc.critic_learning_rate),
                                  (self.alpha_optimizer, lc.alpha_learning_rate)],
                                 lc.learning_rate_final_fraction, fraction)

    def _noise(self, like: torch.Tensor) -> torch.Tensor:
        return torch.randn(like.shape, generator=self.generator, device=self.device)

    def update(self, sample: SampledBatch) -> tuple[np.ndarray, dict[str, float]]:
        """One learner step (see the module docstring).

        Returns ``(priorities |y − Q_1| [B] float32 with NaN/inf as 0, metrics)``; metrics
        ``learner/loss`` (critics), ``learner/actor_loss``, ``learner/alpha``, ``learner/entropy``
        (``−mean log π``), ``learner/q_mean``, ``learner/td_abs_mean``, ``learner/learning_rate``
        (the critics') and ``learner/grad_norm``.
        """
        lc, nets = self.lc, self.networks
        update_obs_norm(nets, sample, self.device)
        batch = to_device_batch(sample, nets.prepare, self.device)
        alpha = self.log_alpha.detach().exp()
        out = sac_critic_loss(nets.critic, self.target_critic, nets.policy, batch, alpha=alpha,
                              next_noise=self._noise(batch.action))
        ok, grad_norm = guarded_step(self.critic_optimizer, list(nets.critic.parameters()), out.loss,
                                     lc.max_grad_norm)
        self.steps += 1
        if self.steps % lc.policy_delay == 0:
            nets.critic.requires_grad_(False)  # the policy's loss moves the policy only
            try:
                actor_loss, log_prob = sac_actor_loss(nets.policy, nets.critic, batch.obs, alpha=alpha,
                                                      noise=self._noise(batch.action))
            finally:
                nets.critic.requires_grad_(True)
            actor_ok, _ = guarded_step(self.actor_optimizer, list(nets.policy.parameters()), actor_loss,
                                       lc.max_grad_norm)
            ok = ok and actor_ok
            self.last_actor_loss = float(actor_loss.detach())
            self.last_entropy = float(-log_prob.mean())
            if lc.autotune and actor_ok:
                alpha_ok, _ = guarded_step(self.alpha_optimizer, [self.log_alpha],
                                           temperature_loss(self.log_alpha, log_prob, self.target_entropy),
                                           math.inf)
                ok = ok and alpha_ok
        count_outcome(self, ok)
        if self.steps % lc.target_update_period == 0:
            soft_update(self.target_critic, nets.critic, lc.tau)
        metrics = dict(out.metrics)
        metrics.update({"learner/actor_loss": self.last_actor_loss, "learner/alpha": float(self.log_alpha.detach().exp()),
                        "learner/entropy": self.last_entropy, "learner/grad_norm": grad_norm,
                        "learner/learning_rate": float(self.critic_optimizer.param_groups[0]["lr"])})
        priorities = np.nan_to_num(out.priorities.float().cpu().numpy(), nan=0.0, posinf=0.0, neginf=0.0)
        return priorities.astype(np.float32, copy=False), metrics

    # ------------------------------------------------------------------ checkpoints
    def _parts(self) -> tuple[dict[str, torch.nn.Module], dict[str, torch.optim.Optimizer]]:
        return ({"online": self.networks, "target_critic": self.target_critic},
                {name: getattr(self, name) for name in _OPTIMIZERS})

    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """``(tensors, meta)``: ``online.*``, ``target_critic.*``, ``log_alpha``, the three
        optimizers' tensors and ``noise_generator`` (CPU); ``meta`` the counters and groups."""
        tensors, meta = learner_state(LEARNER_KIND, *self._parts(), self.generator)
        tensors["log_alpha"] = self.log_alpha.detach().cpu().clone()
        meta.update({"steps": self.steps, "skipped_updates": self.skipped_updates,
                     "last_actor_loss": self.last_actor_loss, "last_entropy": self.last_entropy})
        return tensors, meta

    def load_state_dict(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`.

        Raises:
            ValueError: a checkpoint of another learner or architecture (names the mismatch).
        """
        load_learner_state(LEARNER_KIND, *self._parts(), self.generator, tensors, meta)
        if "log_alpha" not in tensors:
            raise ValueError("checkpoint has no log_alpha")
        with torch.no_grad():
            self.log_alpha.copy_(tensors["log_alpha"].to(self.device))
        self.steps = int(meta["steps"])
        self.skipped_updates = int(meta["skipped_updates"])
        self.consecutive_skipped = 0
        self.last_actor_loss = float(meta.get("last_actor_loss", float("nan")))
        self.last_entropy = float(meta.get("last_entropy", float("nan")))
