"""Running mean / standard deviation normalization of observations, inside the network.

``y = clip((x − μ) / √(σ² + ε), −c, c)`` with μ, σ² the running mean and variance of every
observation the learner has trained on, merged batch by batch with the parallel form of Welford's
algorithm (Chan, Golub & LeVeque 1979), as Stable-Baselines3's ``RunningMeanStd`` /
``VecNormalize`` do.

The statistics are non-trainable :class:`torch.nn.Parameter`s (``requires_grad=False``), not
buffers, so that everything that moves a network's parameters moves them too: the publication
to actors (:class:`apexrl.runtime.params.SharedParams` copies ``parameters()``), checkpoints and
exported policies. Optimizers skip them (their gradient is always ``None``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class RunningObsNorm(nn.Module):
    """Normalizes ``[B, *shape]`` float observations by running statistics.

    Args:
        shape: one observation's shape.
        clip: ``c``, the bound of the normalized values (SB3: 10).
        epsilon: ``ε`` added to the variance (SB3: 1e-8).

    Attributes:
        mean, var: ``shape`` float32 running mean and (population) variance.
        count: scalar float32 number of observations merged (starts at 1e-4, as SB3's, so the
            first batch dominates).
    """

    def __init__(self, shape: Sequence[int], clip: float = 10.0, epsilon: float = 1e-8) -> None:
        super().__init__()
        if clip <= 0:
            raise ValueError(f"clip must be > 0, got {clip}")
        shape = tuple(int(d) for d in shape)
        self.mean = nn.Parameter(torch.zeros(shape), requires_grad=False)
        self.var = nn.Parameter(torch.ones(shape), requires_grad=False)
        self.count = nn.Parameter(torch.tensor(1e-4), requires_grad=False)
        self.clip = float(clip)
        self.epsilon = float(epsilon)

    @torch.no_grad()
    def update(self, obs: torch.Tensor) -> None:
        """Merge a batch ``[B, *shape]`` into the statistics (in place, no gradient).

        Raises:
            ValueError: ``obs`` does not end in ``shape``.
        """
        shape = tuple(self.mean.shape)
        if obs.dim() <= len(shape) - 1 or tuple(obs.shape[obs.dim() - len(shape):]) != shape:
            raise ValueError(f"observations of shape {tuple(obs.shape)} for a normalizer of {shape}")
        x = obs.reshape(-1, *shape).to(self.mean.dtype)
        n = float(x.shape[0])
        if n == 0:
            return
        batch_mean = x.mean(dim=0)
        batch_var = x.var(dim=0, unbiased=False)
        total = self.count + n
        delta = batch_mean - self.mean
        m2 = self.var * self.count + batch_var * n + delta.pow(2) * self.count * n / total
        self.mean.add_(delta * n / total)
        self.var.copy_(m2 / total)
        self.count.copy_(total)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """``[B, *shape]`` -> normalized float32 ``[B, *shape]``."""
        y = (obs.to(self.mean.dtype) - self.mean) / torch.sqrt(self.var + self.epsilon)
        return y.clamp(-self.clip, self.clip)

    def extra_repr(self) -> str:
        return f"shape={tuple(self.mean.shape)}, clip={self.clip}, count={float(self.count):.0f}"
