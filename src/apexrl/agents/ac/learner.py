"""The learner of ``a2c`` and ``ppo`` (one learner with switches).

One :meth:`ActorCriticLearner.update` is one learner step on a batch of whole rollouts
(:class:`apexrl.replay.rollout.RolloutSample`):

1. GAE(λ) advantages and value targets from the behaviour values the actors stored
   (:func:`apexrl.losses.policy_gradient.gae_advantages`; truncations bootstrap from the final
   observation's value);
2. ``epochs`` passes over the ``batch_size`` transitions in ``num_minibatches`` shuffled
   minibatches (PPO, Schulman et al. 2017, Algorithm 1; A2C: one pass, one minibatch), each with
   advantages normalized per minibatch (if set), the loss
   ``L = L^π + vf_coef · L^V − ent_coef · H`` (``L^π``: the clipped surrogate, or the plain
   ``−Â log π`` when ``clip_range`` is None) and one optimizer step after a global gradient-norm
   clip (:func:`apexrl.agents.common.guarded_step`; a step whose loss or norm is not finite is not
   applied).

:meth:`set_progress` anneals the step size (and ε of the clip, if set) linearly over the budget.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from apexrl.agents.ac.policy import build_network, distribution_log_prob
from apexrl.agents.common import adam, count_outcome, guarded_step, learner_state, load_learner_state, seeded_generator
from apexrl.losses.policy_gradient import (categorical_entropy, clipped_surrogate_loss, gae_advantages,
                                           gaussian_entropy, normalize_advantages, squashed_entropy_estimate,
                                           value_loss, vanilla_pg_loss)
from apexrl.nets.actor_critic import ActorCriticNetwork
from apexrl.replay.rollout import RolloutSample

LEARNER_KIND = "actor_critic"


class ActorCriticLearner:
    """Holds the actor-critic network and its optimizer (Adam for PPO, RMSProp for A2C).

    Args:
        config: the agent config (:class:`apexrl.agents.ac.config.ActorCriticAgentConfig`).
        info: :class:`apexrl.envs.EnvSpecInfo` (``Discrete`` or bounded 1-d ``Box`` actions).
        seed: seeds the network initialisation and the minibatch shuffles.
        device: where the network and the updates run.

    Raises:
        ValueError: as :func:`apexrl.agents.ac.policy.build_network`.
    """

    def __init__(self, config: Any, info: Any, seed: int = 0, device: torch.device | str = "cpu") -> None:
        self.config = config
        self.lc = lc = config.learner
        self.device = torch.device(device)
        torch.manual_seed(seed)
        self.network: ActorCriticNetwork = build_network(config, info).to(self.device)
        params = list(self.network.parameters())
        if lc.optimizer == "adam":
            self.optimizer: torch.optim.Optimizer = adam(params, lc.learning_rate, lc.optimizer_eps, self.device)
        else:  # the multi-tensor kernel: a tenth faster for small networks on CPU
            self.optimizer = torch.optim.RMSprop(params, lr=lc.learning_rate, alpha=lc.rmsprop_decay,
                                                 eps=lc.optimizer_eps, foreach=True)
        self.generator = seeded_generator(seed, self.device)
        self.clip_range = lc.clip_range
        self.steps = 0
        self.skipped_updates = 0
        self.consecutive_skipped = 0

    def acting_network(self) -> ActorCriticNetwork:
        """The network actors sample from and the evaluator acts greedily with."""
        return self.network

    def set_progress(self, fraction: float) -> None:
        """Step size ``lr0 · (1 − (1 − f) · fraction)`` with ``f = learning_rate_final_fraction`` (if
        set), and the clip ε the same way with ``clip_range_final_fraction``."""
        lc = self.lc
        fraction = min(max(float(fraction), 0.0), 1.0)
        if lc.learning_rate_final_fraction is not None:
            lr = lc.learning_rate * (1.0 - (1.0 - lc.learning_rate_final_fraction) * fraction)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
        if lc.clip_range is not None and lc.clip_range_final_fraction is not None:
            self.clip_range = lc.clip_range * (1.0 - (1.0 - lc.clip_range_final_fraction) * fraction)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

    def update(self, sample: RolloutSample) -> tuple[np.ndarray, dict[str, float]]:
        """One learner step (see the module docstring).

        Returns ``(zeros [K] float32 for the K popped rollouts: nothing is prioritized, metrics)``;
        metrics ``learner/loss`` (the last minibatch's), ``learner/policy_loss``, ``learner/value_loss``,
        ``learner/entropy``, ``learner/approx_kl``, ``learner/clip_fraction`` (means over the
        minibatches), ``learner/grad_norm``, ``learner/learning_rate``, ``learner/clip_range``,
        ``learner/explained_variance`` and ``learner/value_mean``.
        """
        lc, net = self.lc, self.network
        r = sample.data
        t_len, e = r.num_steps, r.num_envs
        n = t_len * e
        with torch.no_grad():
            rewards = self._tensor(r.rewards).float()
            values = self._tensor(r.values).float()
            advantages, returns = gae_advantages(rewards, values, self._tensor(r.next_values).float(),
                                                 self._tensor(r.terminated), self._tensor(r.truncated),
                                                 lc.gamma, lc.gae_lambda)
        obs = net.prepare(self._tensor(r.obs.reshape(n, *r.obs.shape[2:])))
        actions = self._tensor(r.actions.reshape(n, *r.actions.shape[2:]))
        old_log_probs = self._tensor(r.log_probs).reshape(n)
        old_values, advantages, returns = values.reshape(n), advantages.reshape(n), returns.reshape(n)
        mb_size = n // lc.num_minibatches if n % lc.num_minibatches == 0 else n
        params = list(net.parameters())
        sums = {"policy_loss": 0.0, "value_loss": 0.0, "entropy": 0.0, "approx_kl": 0.0, "clip_fraction": 0.0}
        count, all_ok, grad_norm, loss_value = 0, True, float("nan"), float("nan")
        whole = mb_size == n and lc.epochs == 1  # one full-batch step (A2C): the order does not matter
        for _ in range(lc.epochs):
            order = None if whole else torch.randperm(n, generator=self.generator, device=self.device)
            for start in range(0, n, mb_size):
                idx = slice(None) if order is None else order[start:start + mb_size]
                out, value = net.heads(obs[idx])
                log_prob = distribution_log_prob(net, out, actions[idx])
                if net.discrete:
                    entropy = categorical_entropy(out)
                elif net.squash:
                    entropy = squashed_entropy_estimate(actions[idx], out, net.log_std)
                else:
                    entropy = gaussian_entropy(net.log_std, out.shape[0])
                adv = normalize_advantages(advantages[idx]) if lc.normalize_advantage else advantages[idx]
                if self.clip_range is None:
                    policy_loss = vanilla_pg_loss(log_prob, adv)
                    with torch.no_grad():
                        log_ratio = log_prob - old_log_probs[idx]
                        pg_metrics = {"learner/approx_kl": float(((log_ratio.exp() - 1) - log_ratio).mean()),
                                      "learner/clip_fraction": 0.0}
                else:
                    policy_loss, pg_metrics = clipped_surrogate_loss(log_prob, old_log_probs[idx], adv,
                                                                     self.clip_range)
                v_loss = value_loss(value, old_values[idx], returns[idx], lc.clip_range_vf)
                loss = policy_loss + lc.vf_coef * v_loss - lc.ent_coef * entropy.mean()
                ok, grad_norm = guarded_step(self.optimizer, params, loss, lc.max_grad_norm)
                all_ok = all_ok and ok
                loss_value = float(loss.detach())
                sums["policy_loss"] += float(policy_loss.detach())
                sums["value_loss"] += float(v_loss.detach())
                sums["entropy"] += float(entropy.detach().mean())
                sums["approx_kl"] += pg_metrics["learner/approx_kl"]
                sums["clip_fraction"] += pg_metrics["learner/clip_fraction"]
                count += 1
        self.steps += 1
        count_outcome(self, all_ok)
        with torch.no_grad():
            var = float(returns.var()) if n > 1 else float("nan")
            explained = float(1.0 - (returns - old_values).var() / var) if var > 0 else float("nan")
        metrics = {f"learner/{k}": v / max(count, 1) for k, v in sums.items()}
        metrics.update({"learner/loss": loss_value, "learner/grad_norm": grad_norm,
                        "learner/learning_rate": float(self.optimizer.param_groups[0]["lr"]),
                        "learner/clip_range": float("nan") if self.clip_range is None else float(self.clip_range),
                        "learner/explained_variance": explained, "learner/value_mean": float(old_values.mean())})
        return np.zeros(len(sample.keys), np.float32), metrics

    # ------------------------------------------------------------------ checkpoints
    def _parts(self) -> tuple[dict[str, torch.nn.Module], dict[str, torch.optim.Optimizer]]:
        return {"online": self.network}, {"optimizer": self.optimizer}

    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """``(tensors, meta)``: ``online.*``, ``optimizer.*`` and ``noise_generator`` (the shuffle
        generator) as CPU tensors; ``meta`` the counters, the optimizer's groups and the clip ε."""
        tensors, meta = learner_state(LEARNER_KIND, *self._parts(), self.generator)
        meta.update({"steps": self.steps, "skipped_updates": self.skipped_updates, "clip_range": self.clip_range})
        return tensors, meta

    def load_state_dict(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`.

        Raises:
            ValueError: a checkpoint of another learner or architecture (names the mismatch).
        """
        load_learner_state(LEARNER_KIND, *self._parts(), self.generator, tensors, meta)
        self.steps = int(meta["steps"])
        self.skipped_updates = int(meta["skipped_updates"])
        self.consecutive_skipped = 0
        self.clip_range = meta.get("clip_range", self.lc.clip_range)
