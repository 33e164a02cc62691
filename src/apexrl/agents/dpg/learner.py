"""The deterministic-policy-gradient learner: one learner, four algorithms by its switches.

One :meth:`DPGLearner.update` is one learner step (Lillicrap et al. 2015, Algorithm 1, with
TD3's and D4PG's changes):

1. the critic's loss on the sampled batch (:func:`apexrl.losses.dpg.dpg_critic_loss`, or
   :func:`~apexrl.losses.dpg.d4pg_critic_loss` with ``--distributional``), importance weighted,
   and one Adam step of the critic;
2. every ``policy_delay`` steps (TD3's delayed policy update) the actor's loss ``−Q(s, μ(s))``
   with the critic frozen and one Adam step of μ;
3. every ``target_update_period`` steps the targets μ⁻, Q⁻ move by ``tau`` towards the online
   networks (``tau = 1``: a hard copy, as D4PG);
4. the new priorities (``|δ|``, or the cross-entropy of the categorical critic) are returned.

A step whose loss or gradient is NaN / infinite is not applied (``skipped_updates``).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from apexrl.agents.common import (adam, count_outcome, guarded_step, learner_state, load_learner_state,
                                  scheduled_learning_rates, seeded_generator, soft_update, to_device_batch,
                                  update_obs_norm)
from apexrl.agents.dpg.policy import build_network
from apexrl.losses.dpg import d4pg_critic_loss, dpg_actor_loss, dpg_critic_loss
from apexrl.nets.continuous import DPGNetworks
from apexrl.types import SampledBatch

LEARNER_KIND = "dpg"


class DPGLearner:
    """Holds μ, the critic, their targets and two Adam optimizers.

    Args:
        config: the full agent config (:class:`apexrl.agents.dpg.config.DPGAgentConfig`); the
            learning rule is ``config.learner``.
        info: :class:`apexrl.envs.EnvSpecInfo` of the environment (a ``Box`` action space).
        seed: seeds the network initialisation and the target-smoothing noise.
        device: where networks and updates run.

    Raises:
        ValueError: the env's action space is not a bounded one-dimensional ``Box``.
    """

    def __init__(self, config: Any, info: Any, seed: int = 0, device: torch.device | str = "cpu") -> None:
        self.config = config
        self.lc = config.learner
        self.device = torch.device(device)
        torch.manual_seed(seed)
        self.networks: DPGNetworks = build_network(config, info).to(self.device)
        self.target: DPGNetworks = copy.deepcopy(self.networks)
        self.target.requires_grad_(False)
        lc = self.lc
        self.actor_optimizer = adam(self.networks.policy.parameters(), lc.actor_learning_rate, lc.optimizer_eps,
                                    self.device)
        self.critic_optimizer = adam(self.networks.critic.parameters(), lc.critic_learning_rate, lc.optimizer_eps,
                                     self.device)
        self.generator = seeded_generator(seed, self.device)
        self.steps = 0
        self.skipped_updates = 0
        self.consecutive_skipped = 0
        self.last_actor_loss = float("nan")
        self.last_actor_grad_norm = float("nan")

    # ------------------------------------------------------------------ the interface
    def acting_network(self) -> DPGNetworks:
        """μ and the critic (actors use the critic for initial priorities)."""
        return self.networks

    def set_progress(self, fraction: float) -> None:
        """Linear step-size decay to ``learning_rate_final_fraction`` (if set) over the budget."""
        scheduled_learning_rates([(self.actor_optimizer, self.lc.actor_learning_rate),
                                  (self.critic_optimizer, self.lc.critic_learning_rate)],
                                 self.lc.learning_rate_final_fraction, fraction)

    def update(self, sample: SampledBatch) -> tuple[np.ndarray, dict[str, float]]:
        """One learner step (see the module docstring).

        Returns ``(priorities [B] float32 with NaN/inf as 0, metrics)``; metrics ``learner/loss``
        (critic), ``learner/actor_loss`` (the latest actor step's), ``learner/q_mean``,
        ``learner/td_abs_mean``, ``learner/learning_rate`` (the critic's), ``learner/grad_norm``
        and ``learner/actor_grad_norm``.
        """
        lc, nets = self.lc, self.networks
        update_obs_norm(nets, sample, self.device)
        batch = to_device_batch(sample, nets.prepare, self.device)
        if lc.distributional:
            out = d4pg_critic_loss(nets.critic, self.target.policy, self.target.critic, batch)
        else:
            noise = None
            if lc.target_policy_noise > 0:
                noise = torch.randn(batch.action.shape, generator=self.generator, device=self.device)
                noise = noise * lc.target_policy_noise
            out = dpg_critic_loss(nets.critic, self.target.policy, self.target.critic, batch,
                                  target_noise=noise, noise_clip=lc.target_noise_clip)
        ok, grad_norm = guarded_step(self.critic_optimizer, list(nets.critic.parameters()), out.loss,
                                     lc.max_grad_norm)
        self.steps += 1
        if self.steps % lc.policy_delay == 0:
            nets.critic.requires_grad_(False)  # the actor's loss moves μ only
            try:
                actor_loss = dpg_actor_loss(nets.policy, nets.critic, batch.obs)
            finally:
                nets.critic.requires_grad_(True)
            actor_ok, self.last_actor_grad_norm = guarded_step(self.actor_optimizer, list(nets.policy.parameters()),
                                                               actor_loss, lc.max_grad_norm)
            self.last_actor_loss = float(actor_loss.detach())
            ok = ok and actor_ok
        count_outcome(self, ok)
        if self.steps % lc.target_update_period == 0:
            soft_update(self.target, nets, lc.tau)
        metrics = dict(out.metrics)
        metrics.update({"learner/actor_loss": self.last_actor_loss, "learner/grad_norm": grad_norm,
                        "learner/actor_grad_norm": self.last_actor_grad_norm,
                        "learner/learning_rate": float(self.critic_optimizer.param_groups[0]["lr"])})
        priorities = np.nan_to_num(out.priorities.float().cpu().numpy(), nan=0.0, posinf=0.0, neginf=0.0)
        return priorities.astype(np.float32, copy=False), metrics

    # ------------------------------------------------------------------ checkpoints
    def _parts(self) -> tuple[dict[str, torch.nn.Module], dict[str, torch.optim.Optimizer]]:
        return ({"online": self.networks, "target": self.target},
                {"actor_optimizer": self.actor_optimizer, "critic_optimizer": self.critic_optimizer})

    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """``(tensors, meta)``: ``online.*``, ``target.*``, ``actor_optimizer.*``,
        ``critic_optimizer.*`` and ``noise_generator`` CPU tensors; ``meta`` the counters, the
        optimizers' groups and the critic variant."""
        tensors, meta = learner_state(LEARNER_KIND, *self._parts(), self.generator)
        meta.update({"steps": self.steps, "skipped_updates": self.skipped_updates,
                     "twin_critics": bool(self.lc.twin_critics), "distributional": bool(self.lc.distributional),
                     "last_actor_loss": self.last_actor_loss})
        return tensors, meta

    def load_state_dict(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`.

        Raises:
            ValueError: a checkpoint of another learner, critic variant or architecture (the
                message names the mismatch).
        """
        if meta.get("learner") == LEARNER_KIND:
            for name in ("twin_critics", "distributional"):
                if bool(meta.get(name)) != bool(getattr(self.lc, name)):
                    raise ValueError(f"checkpoint has {name}={meta.get(name)}, the config "
                                     f"--{name.replace('_', '-')}={getattr(self.lc, name)}")
        load_learner_state(LEARNER_KIND, *self._parts(), self.generator, tensors, meta)
        self.steps = int(meta["steps"])
        self.skipped_updates = int(meta["skipped_updates"])
        self.consecutive_skipped = 0
        self.last_actor_loss = float(meta.get("last_actor_loss", float("nan")))
