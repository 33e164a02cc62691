"""Pieces every learner and actor-side policy of the continuous-control agents shares (DPG and
SAC): the ``Box`` check, batches onto the learner's device, a guarded optimizer step, Polyak
target updates, learning-rate schedules and the evaluation policy."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from apexrl.envs.spaces import scale_actions
from apexrl.losses import TorchBatch
from apexrl.runtime.device import to_device
from apexrl.runtime.optim_state import load_optimizer_tensors, optimizer_tensors
from apexrl.types import SampledBatch


def box_action_space(info: Any, algo: str = "this algorithm") -> spaces.Box:
    """``info.action_space`` if it is a one-dimensional ``Box`` with finite bounds (the check of
    :func:`apexrl.envs.actions.action_space_error`, which the runtime also runs at start; here for
    networks and policies built outside it).

    Args:
        info: an :class:`apexrl.envs.EnvSpecInfo` (``action_space``, ``env_id``).
        algo: named in the error message.

    Raises:
        ValueError: another space, a Box of more than one dimension, or unbounded bounds; the
            message names the algorithms that fit the env's space.
    """
    from apexrl.agents import agents_for
    from apexrl.envs.actions import action_space_error

    space = getattr(info, "action_space", None)
    fitting = {kind: agents_for(kind) for kind in ("discrete", "continuous")}
    message = action_space_error(getattr(info, "env_id", "the environment"), algo, "continuous", space, fitting)
    if message is not None:
        raise ValueError(message)
    return space


def to_device_batch(sample: SampledBatch, prepare: Callable[[torch.Tensor], torch.Tensor],
                    device: torch.device) -> TorchBatch:
    """A sampled batch as tensors on ``device``, observations prepared once (``networks.prepare``);
    the copy is :func:`apexrl.runtime.device.to_device`'s (pinned, non-blocking on CUDA; shared
    with NumPy on CPU)."""
    move = to_device(device)
    d = sample.data
    return TorchBatch(obs=prepare(move(d.obs)), action=move(d.action).float(), reward=move(d.reward),
                      discount=move(d.discount), next_obs=prepare(move(d.next_obs)), weights=move(sample.weights))


def update_obs_norm(networks: nn.Module, sample: SampledBatch, device: torch.device) -> None:
    """Merge the batch's observations into ``networks.obs_norm`` (if it has one) unless any is
    NaN / infinite (such a batch is skipped by the update and must not poison the statistics)."""
    norm = getattr(networks, "obs_norm", None)
    if norm is None:
        return
    obs = torch.from_numpy(np.ascontiguousarray(sample.data.obs)).to(device).float()
    obs = obs.reshape(obs.shape[0], -1)
    if bool(torch.isfinite(obs).all()):
        norm.update(obs)


def guarded_step(optimizer: torch.optim.Optimizer, params: Sequence[torch.Tensor], loss: torch.Tensor,
                 max_grad_norm: float) -> tuple[bool, float]:
    """Backward ``loss``, clip the global gradient norm of ``params`` to ``max_grad_norm`` and step
    ``optimizer`` unless the loss or the norm is NaN / infinite. With ``max_grad_norm = inf`` no
    norm is computed (a third of a small network's update time on CPU): only the loss is checked,
    which catches a non-finite batch; the returned norm is then NaN.

    Returns: ``(stepped, gradient norm before clipping, or NaN when not computed)``.
    """
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if math.isinf(max_grad_norm):
        ok = bool(torch.isfinite(loss.detach()))
        if ok:
            optimizer.step()
        return ok, float("nan")
    norm = torch.nn.utils.clip_grad_norm_(params, max_grad_norm, foreach=True)  # one fused pass
    ok = bool(torch.isfinite(loss.detach()) & torch.isfinite(norm))
    if ok:
        optimizer.step()
    return ok, float(norm)


def soft_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """Polyak averaging θ⁻ ← τθ + (1 − τ)θ⁻ of every parameter (τ = 1: a copy); buffers are copied."""
    with torch.no_grad():
        for t, o in zip(target.parameters(), online.parameters()):
            t.lerp_(o, tau)
        for t, o in zip(target.buffers(), online.buffers()):
            t.copy_(o)


def scheduled_learning_rates(optimizers: Iterable[tuple[torch.optim.Optimizer, float]],
                             final_fraction: float | None, fraction: float) -> None:
    """Set each optimizer's step size to ``lr0 · (1 − (1 − final_fraction) · fraction)`` (a linear
    decay to ``final_fraction · lr0`` at ``fraction = 1``); nothing when ``final_fraction`` is None."""
    if final_fraction is None:
        return
    factor = 1.0 - (1.0 - final_fraction) * min(max(float(fraction), 0.0), 1.0)
    for optimizer, lr0 in optimizers:
        for group in optimizer.param_groups:
            group["lr"] = lr0 * factor


def adam(params: Iterable[torch.Tensor], lr: float, eps: float, device: torch.device) -> torch.optim.Adam:
    """Adam with the fused kernel (faster for small networks on CPU and on CUDA)."""
    return torch.optim.Adam(list(params), lr=lr, eps=eps, fused=device.type in ("cpu", "cuda"))


def greedy_actions(network: nn.Module, obs: np.ndarray, action_space: spaces.Box, epsilon: float = 0.0,
                   rng: np.random.Generator | None = None) -> np.ndarray:
    """The evaluation policy of the continuous agents: the deterministic action ``network(obs)``
    (μ(s), or SAC's tanh(mean)) rescaled to the Box's bounds.

    Args:
        network: :class:`~apexrl.nets.continuous.DPGNetworks` or
            :class:`~apexrl.nets.continuous.SACNetworks` (CPU).
        obs: ``[B, *obs_shape]`` observations. action_space: the env's Box.
        epsilon, rng: ignored (the interface's ε of the DQN family).

    Returns: ``[B, d]`` float32 env actions.
    """
    del epsilon, rng
    with torch.inference_mode():
        x = network.prepare(torch.from_numpy(np.ascontiguousarray(obs)))
        actions = network(x).numpy()
    return scale_actions(actions, action_space.low, action_space.high)



def load_optimizers(optimizers: dict[str, torch.optim.Optimizer], tensors: dict[str, torch.Tensor],
                    meta: dict[str, Any]) -> None:
    """Restore each optimizer ``name`` from the ``name.*`` tensors and ``meta[f"{name}_param_groups"]``
    (:func:`apexrl.runtime.optim_state.load_optimizer_tensors`).

    Raises:
        ValueError: a missing group list, or state that does not fit (naming the optimizer).
    """
    for name, optimizer in optimizers.items():
        groups = meta.get(f"{name}_param_groups")
        if groups is None:
            raise ValueError(f"checkpoint has no {name} state")
        params = [p for g in optimizer.param_groups for p in g["params"]]
        for key, value in tensors.items():
            if key.startswith(name + ".") and value.dim() > 0:
                index = int(key.split(".")[1])
                if index >= len(params) or tuple(value.shape) != tuple(params[index].shape):
                    raise ValueError(f"checkpoint {key} {tuple(value.shape)} does not fit this learner's {name}")
        try:
            load_optimizer_tensors(optimizer, name, tensors, groups)
        except (ValueError, KeyError, RuntimeError) as exc:
            raise ValueError(f"checkpoint {name} does not fit this learner: {exc}") from exc


def seeded_generator(seed: int, device: torch.device) -> torch.Generator:
    """The learner's own generator on ``device`` (target smoothing, policy samples), seeded from
    ``seed`` apart from the network initialisation."""
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed) + 1)
    return generator


def count_outcome(learner: Any, ok: bool) -> None:
    """Update ``learner.skipped_updates`` / ``consecutive_skipped`` after an update (``ok``: every
    optimizer step of it was applied)."""
    if ok:
        learner.consecutive_skipped = 0
    else:
        learner.skipped_updates += 1
        learner.consecutive_skipped += 1


def learner_state(kind: str, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
                  generator: torch.Generator) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The common part of a continuous learner's ``state_dict``: ``<prefix>.*`` CPU tensors of every
    module, ``<optimizer name>.*`` tensors (:func:`apexrl.runtime.optim_state.optimizer_tensors`)
    and ``noise_generator``; ``meta`` has ``learner`` = ``kind`` and each optimizer's groups."""
    tensors = {f"{prefix}.{k}": v.detach().cpu() for prefix, module in modules.items()
               for k, v in module.state_dict().items()}
    meta: dict[str, Any] = {"learner": kind}
    for name, optimizer in optimizers.items():
        opt_tensors, groups = optimizer_tensors(name, optimizer)
        tensors.update(opt_tensors)
        meta[f"{name}_param_groups"] = groups
    tensors["noise_generator"] = generator.get_state().clone()
    return tensors, meta


def load_learner_state(kind: str, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
                       generator: torch.Generator, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Restore what :func:`learner_state` gave.

    Raises:
        ValueError: a checkpoint of another learner kind, or tensors that do not fit a module or
            an optimizer (the message names it).
    """
    if meta.get("learner") != kind:
        raise ValueError(f"checkpoint holds a {meta.get('learner')!r} learner, not a {kind!r} one")
    for prefix, module in modules.items():
        start = prefix + "."
        try:
            module.load_state_dict({k[len(start):]: v for k, v in tensors.items() if k.startswith(start)})
        except RuntimeError as exc:
            raise ValueError(f"checkpoint {prefix} does not fit this learner's networks: {exc}") from exc
    load_optimizers(optimizers, tensors, meta)
    if "noise_generator" in tensors:
        generator.set_state(tensors["noise_generator"].cpu())
