"""The Ape-X learner (Horgan et al. 2018, Algorithm 2) for the DQN family.

One :meth:`DQNLearner.update` is one learner step: the loss on a sampled batch
(:func:`apexrl.losses.dqn_loss`), a gradient step with global-norm clipping, a hard target
copy every ``target_update_period`` learner steps, and the new priorities |δ| returned for the
replay to store.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from apexrl.config import DQNConfig
from apexrl.envs import EnvSpecInfo
from apexrl.losses import TorchBatch, dqn_loss
from apexrl.losses.c51 import c51_loss
from apexrl.nets import build_dqn_network, reset_noise
from apexrl.runtime.device import to_device
from apexrl.runtime.optim_state import load_optimizer_tensors, optimizer_tensors
from apexrl.types import SampledBatch


class DQNLearner:
    """Holds the online network θ, the target network θ⁻ and the optimizer.

    Args:
        config: the learning rule's settings.
        info: environment shapes (``kind``, ``obs_shape``, ``num_actions``).
        seed: seeds the network initialisation.
        device: where the networks live and updates run (replay batches are copied there through
            pinned memory when it is a CUDA device); default CPU.
    """

    def __init__(self, config: DQNConfig, info: EnvSpecInfo, seed: int = 0,
                 device: torch.device | str | None = None) -> None:
        self.config = config
        self.device = torch.device(device or "cpu")
        torch.manual_seed(seed)
        self.online: nn.Module = build_dqn_network(config, info).to(self.device)
        self.target: nn.Module = copy.deepcopy(self.online)
        self.target.requires_grad_(False)
        params = list(self.online.parameters())
        self.learning_rate = config.learning_rate
        if config.optimizer == "adam":
            # the fused kernel is ~3x faster than the per-tensor loop on CPU for small networks
            self.optimizer: torch.optim.Optimizer = torch.optim.Adam(params, lr=config.learning_rate,
                                                                     eps=config.optimizer_eps, fused=True)
        else:
            self.optimizer = torch.optim.RMSprop(params, lr=config.learning_rate, alpha=config.rmsprop_decay,
                                                 eps=config.optimizer_eps, centered=True)
        self.steps = 0
        self.skipped_updates = 0
        self.consecutive_skipped = 0

    def set_learning_rate(self, lr: float) -> None:
        """Set the optimizer's step size (for schedules)."""
        self.learning_rate = lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def set_progress(self, fraction: float) -> None:
        """Training progress in ``[0, 1]``: the learning rate decays linearly from
        ``learning_rate`` to ``learning_rate_final`` (when set) over the budget."""
        final = self.config.learning_rate_final
        if final is not None:
            self.set_learning_rate(self.config.learning_rate + fraction * (final - self.config.learning_rate))

    def acting_network(self) -> nn.Module:
        """The online Q network θ (what actors and the evaluator act with)."""
        return self.online

    def update(self, sample: SampledBatch) -> tuple[np.ndarray, dict[str, float]]:
        """One learner step on a sampled batch.

        Returns ``(priorities [B] float32 |δ|, metrics)``. A non-finite loss or gradient skips
        the parameter update (counted in ``skipped_updates``); priorities are then the
        previous ones' stand-in of |δ| with non-finite values replaced by 0.
        """
        d = sample.data
        prepare = self.online.prepare  # once per batch; both networks take the prepared tensors
        put = to_device(self.device)
        batch = TorchBatch(
            obs=prepare(put(d.obs)),
            action=put(d.action),
            reward=put(d.reward),
            discount=put(d.discount),
            next_obs=prepare(put(d.next_obs)),
            weights=put(sample.weights),
        )
        if self.config.noisy:  # independent noise for the online and target networks every step
            reset_noise(self.online)
            reset_noise(self.target)
        if self.config.distributional:
            out = c51_loss(self.online, self.target, batch, double=self.config.double)
        else:
            out = dqn_loss(self.online, self.target, batch, double=self.config.double, loss_type=self.config.loss)
        self.optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.online.parameters(), self.config.max_grad_norm, foreach=True)
        metrics = dict(out.metrics)
        metrics["learner/grad_norm"] = float(grad_norm)
        metrics["learner/learning_rate"] = self.learning_rate
        if torch.isfinite(out.loss) and torch.isfinite(grad_norm):
            self.optimizer.step()
            self.consecutive_skipped = 0
        else:
            self.skipped_updates += 1
            self.consecutive_skipped += 1
        self.steps += 1
        if self.steps % self.config.target_update_period == 0:
            self.target.load_state_dict(self.online.state_dict())
        priorities = np.nan_to_num(out.priorities.detach().cpu().numpy(), nan=0.0, posinf=0.0, neginf=0.0)
        return priorities.astype(np.float32, copy=False), metrics

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, object]]:
        """``(tensors, meta)`` for a checkpoint: ``online.*``, ``target.*`` and ``optimizer.<i>.<name>``
        tensors; ``meta`` (JSON-able) holds the step counters and the optimizer's hyperparameters."""
        tensors = {f"online.{k}": v.cpu() for k, v in self.online.state_dict().items()}
        tensors.update({f"target.{k}": v.cpu() for k, v in self.target.state_dict().items()})
        opt_tensors, groups = optimizer_tensors("optimizer", self.optimizer)
        tensors.update(opt_tensors)
        meta = {"steps": self.steps, "skipped_updates": self.skipped_updates, "optimizer": self.config.optimizer,
                "param_groups": groups, "learning_rate": self.learning_rate}
        return tensors, meta

    def load_state_dict(self, tensors: dict[str, torch.Tensor], meta: dict[str, object]) -> None:
        """Restore a :meth:`state_dict`.

        Raises:
            ValueError: the tensors do not fit this learner's networks (a different architecture)
                or the optimizer differs; the message names the mismatch.
        """
        if meta.get("optimizer") != self.config.optimizer:
            raise ValueError(f"checkpoint optimizer {meta.get('optimizer')!r} differs from "
                             f"--optimizer {self.config.optimizer!r}")
        online = {k[len("online."):]: v for k, v in tensors.items() if k.startswith("online.")}
        target = {k[len("target."):]: v for k, v in tensors.items() if k.startswith("target.")}
        try:
            self.online.load_state_dict(online)
            self.target.load_state_dict(target)
            load_optimizer_tensors(self.optimizer, "optimizer", tensors, meta["param_groups"])  # type: ignore[arg-type]
        except (RuntimeError, ValueError, KeyError) as exc:
            raise ValueError(f"checkpoint does not fit this network/optimizer: {exc}") from exc
        self.learning_rate = float(meta.get("learning_rate", self.config.learning_rate))  # type: ignore[arg-type]
        self.steps = int(meta["steps"])  # type: ignore[call-overload]
        self.skipped_updates = int(meta["skipped_updates"])  # type: ignore[call-overload]
