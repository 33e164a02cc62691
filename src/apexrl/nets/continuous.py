"""Networks of the continuous-control agents (``Box`` actions in the policy's units ``[-1, 1]^d``).

- :class:`DeterministicPolicy`: ``μ(s) = tanh(f(s))`` (DDPG, Lillicrap et al. 2015; TD3,
  Fujimoto et al. 2018; Ape-X DPG; D4PG).
- :class:`GaussianPolicy`: the mean and clamped log standard deviation of the pre-squash Gaussian
  of SAC (Haarnoja et al. 2018); sampling and the tanh-corrected log-probability are in
  :mod:`apexrl.losses.sac` (one formula in one place).
- :class:`Critic`: ``Q(s, a) -> [B]``; :class:`CategoricalCritic`: the D4PG return distribution
  ``Z(s, a)`` as logits ``[B, N]`` on a fixed support; :class:`TwinCritic`: two critics
  ``[2, B]`` (TD3's clipped double-Q, SAC).
- :class:`DPGNetworks` / :class:`SACNetworks`: the acting modules (policy + critic) that actors,
  the evaluator and export receive; ``forward(obs)`` is the deterministic action.

Observations go through :func:`apexrl.nets.build_torso` (MLP for vectors, with the encoders of
:mod:`apexrl.nets.encoders`; the conv torsos for pixels). Every module has ``prepare(obs)`` (the
raw observation as the float32 tensor the layers take), so a learner prepares a batch once and
feeds it to several networks. The critic takes the prepared observation (flattened, for vectors)
concatenated with the action, as in the TD3 / CleanRL / SB3 critics (DDPG's paper adds the action
at the second layer instead).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from gymnasium import spaces
from torch import nn

from apexrl.nets.distributional import categorical_q_values, make_support
from apexrl.nets.normalize import RunningObsNorm
from apexrl.nets.torsos import build_torso

LOG_STD_MIN = -20.0
"""Lower clamp of SAC's log σ (Haarnoja et al.'s softlearning code and SB3: −20)."""
LOG_STD_MAX = 2.0
"""Upper clamp of SAC's log σ (softlearning, SB3 and CleanRL: 2)."""


def _mlp(in_dim: int, hidden_sizes: Sequence[int], out_dim: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden_sizes:
        layers += [nn.Linear(in_dim, int(h)), nn.ReLU()]
        in_dim = int(h)
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


def _obs_torso(kind: str, obs_shape: Sequence[int], hidden_sizes: Sequence[int], obs_space: Any,
               with_hidden: bool) -> nn.Module:
    """The observation part of a network. Vectors: the MLP torso with ``hidden_sizes`` (or none
    at all, a flatten/encode, when ``with_hidden`` is False, for the critic which concatenates the
    action to the observation); pixels: the conv torso with ``hidden_sizes[-1]`` units."""
    if kind == "vector" and not with_hidden:
        return build_torso(kind, obs_shape, (), obs_space)
    return build_torso(kind, obs_shape, hidden_sizes, obs_space)


def _check_sizes(act_dim: int, hidden_sizes: Sequence[int]) -> None:
    if int(act_dim) < 1:
        raise ValueError(f"act_dim must be >= 1, got {act_dim}")
    if len(hidden_sizes) == 0 or any(int(h) < 1 for h in hidden_sizes):
        raise ValueError(f"hidden_sizes must be one or more positive widths, got {tuple(hidden_sizes)}")


class DeterministicPolicy(nn.Module):
    """``μ(s) = tanh(W·torso(s) + b)``: observations ``[B, *obs_shape]`` → actions ``[B, act_dim]``
    float32 in ``[-1, 1]`` (the DDPG actor; the tanh output layer is the paper's).

    Raises:
        ValueError: ``act_dim < 1`` or empty / non-positive ``hidden_sizes``; as :func:`build_torso`.
    """

    def __init__(self, kind: str, obs_shape: Sequence[int], act_dim: int, hidden_sizes: Sequence[int],
                 obs_space: Any = None) -> None:
        super().__init__()
        _check_sizes(act_dim, hidden_sizes)
        self.torso = _obs_torso(kind, obs_shape, hidden_sizes, obs_space, with_hidden=True)
        self.head = nn.Linear(self.torso.out_dim, int(act_dim))
        self.act_dim = int(act_dim)

    def prepare(self, obs: torch.Tensor) -> torch.Tensor:
        """Raw observations → the float32 input of :meth:`forward` (the torso's ``prepare``)."""
        return self.torso.prepare(obs)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """``[B, *obs_shape]`` (raw or prepared) → ``[B, act_dim]`` in ``[-1, 1]``."""
        return torch.tanh(self.head(self.torso(obs)))


class GaussianPolicy(nn.Module):
    """SAC's policy network: observations → ``(mean [B, d], log_std [B, d])`` of the Gaussian of
    the pre-squash action ``u``; the action is ``tanh(u)`` (Haarnoja et al. 2018, Appendix C).
    ``log_std`` is clamped to ``[LOG_STD_MIN, LOG_STD_MAX] = [−20, 2]`` (softlearning / SB3; CleanRL
    squashes it into ``[−5, 2]`` with a tanh instead). Both heads are state dependent.

    Raises:
        ValueError: as :class:`DeterministicPolicy`.
    """

    def __init__(self, kind: str, obs_shape: Sequence[int], act_dim: int, hidden_sizes: Sequence[int],
                 obs_space: Any = None) -> None:
        super().__init__()
        _check_sizes(act_dim, hidden_sizes)
        self.torso = _obs_torso(kind, obs_shape, hidden_sizes, obs_space, with_hidden=True)
        self.mean = nn.Linear(self.torso.out_dim, int(act_dim))
        self.log_std = nn.Linear(self.torso.out_dim, int(act_dim))
        self.act_dim = int(act_dim)

    def prepare(self, obs: torch.Tensor) -> torch.Tensor:
        """Raw observations → the float32 input of :meth:`forward`."""
        return self.torso.prepare(obs)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, *obs_shape]`` → ``(mean, log_std)``, each ``[B, act_dim]`` float32."""
        features = self.torso(obs)
        log_std = self.log_std(features).clamp(LOG_STD_MIN, LOG_STD_MAX)
        return self.mean(features), log_std

    def deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        """The evaluation action ``tanh(mean)``, ``[B, act_dim]`` in ``(-1, 1)``."""
        return torch.tanh(self.forward(obs)[0])


class Critic(nn.Module):
    """``Q(s, a)``: observations ``[B, *obs_shape]`` and actions ``[B, act_dim]`` → ``[B]``
    float32. Vectors: an MLP with ``hidden_sizes`` on ``[flatten(prepare(s)), a]``; pixels: the
    conv torso's features concatenated with ``a``, then the MLP. ``out_dim > 1`` gives
    ``[B, out_dim]`` (the categorical critic's logits).

    Raises:
        ValueError: as :class:`DeterministicPolicy`.
    """

    def __init__(self, kind: str, obs_shape: Sequence[int], act_dim: int, hidden_sizes: Sequence[int],
                 obs_space: Any = None, out_dim: int = 1) -> None:
        super().__init__()
        _check_sizes(act_dim, hidden_sizes)
        self.torso = _obs_torso(kind, obs_shape, hidden_sizes, obs_space, with_hidden=False)
        mlp_sizes = hidden_sizes if kind == "vector" else hidden_sizes[:-1]
        self.mlp = _mlp(self.torso.out_dim + int(act_dim), mlp_sizes, int(out_dim))
        self.out_dim = int(out_dim)

    def prepare(self, obs: torch.Tensor) -> torch.Tensor:
        """Raw observations → the float32 input of :meth:`forward`."""
        return self.torso.prepare(obs)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """``(obs [B, *obs_shape], action [B, d])`` → ``[B]`` (``[B, out_dim]`` if ``out_dim > 1``)."""
        out = self.mlp(torch.cat([self.torso(obs), action], dim=1))
        return out.squeeze(1) if self.out_dim == 1 else out

    def q(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """``Q(s, a)`` ``[B]`` (the value the actor's gradient and initial priorities use)."""
        return self.forward(obs, action)


class CategoricalCritic(nn.Module):
    """D4PG's distributional critic (Barth-Maron et al. 2018): ``Z(s, a)`` as a categorical over
    ``num_atoms`` atoms ``linspace(v_min, v_max, N)`` (the C51 support,
    :func:`apexrl.nets.distributional.make_support`). ``forward`` gives logits ``[B, N]``;
    :meth:`q` the expectation ``Σ_i z_i p_i`` ``[B]``. ``support`` is a buffer (saved with it).

    Raises:
        ValueError: as :class:`Critic` and :func:`make_support`.
    """

    support: torch.Tensor

    def __init__(self, kind: str, obs_shape: Sequence[int], act_dim: int, hidden_sizes: Sequence[int],
                 num_atoms: int, v_min: float, v_max: float, obs_space: Any = None) -> None:
        super().__init__()
        self.register_buffer("support", make_support(v_min, v_max, num_atoms))
        self.net = Critic(kind, obs_shape, act_dim, hidden_sizes, obs_space, out_dim=int(num_atoms))
        self.num_atoms = int(num_atoms)

    def prepare(self, obs: torch.Tensor) -> torch.Tensor:
        """Raw observations → the float32 input of :meth:`forward`."""
        return self.net.prepare(obs)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """``(obs, action)`` → logits ``[B, num_atoms]``."""
        return self.net(obs, action)

    def q(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """``E[Z(s, a)]`` ``[B]`` (:func:`apexrl.nets.distributional.categorical_q_values`)."""
        return categorical_q_values(self.forward(obs, action), self.support)


class EnsembleMLP(nn.Module):
    """``K`` independent MLPs evaluated as one batched matrix product per layer (``baddbmm``):
    input ``[B, in_dim]`` (shared) → ``[K, B, out_dim]``. Each member is initialised as
    ``nn.Linear`` layers are (weights and biases ``U(−1/√fan_in, 1/√fan_in)``), so it is ``K``
    separate critics at the cost of one pass of ``K``-times-wider kernels (half the per-operation
    overhead of two modules on CPU for small networks).
    """

    def __init__(self, num_members: int, in_dim: int, hidden_sizes: Sequence[int], out_dim: int) -> None:
        super().__init__()
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip([in_dim, *hidden_sizes], [*hidden_sizes, out_dim]):
            bound = 1.0 / math.sqrt(fan_in)
            self.weights.append(nn.Parameter(torch.empty(num_members, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(num_members, 1, fan_out).uniform_(-bound, bound)))
        self.num_members = int(num_members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, in_dim]`` → ``[K, B, out_dim]``."""
        h = x.unsqueeze(0).expand(self.num_members, -1, -1)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)
            if i < last:
                h = torch.relu(h)
        return h


class TwinCritic(nn.Module):
    """Two independent critics ``Q_1, Q_2`` (TD3's clipped double-Q, Fujimoto et al. 2018; SAC).
    ``forward`` → ``[2, B]``; :meth:`q` is ``Q_1`` (TD3's actor loss uses ``Q_1``). For vector
    observations both critics run as one :class:`EnsembleMLP` on ``[flatten(s), a]``; for pixels
    each has its own conv torso (two :class:`Critic` modules).

    Raises:
        ValueError: as :class:`Critic`.
    """

    def __init__(self, kind: str, obs_shape: Sequence[int], act_dim: int, hidden_sizes: Sequence[int],
                 obs_space: Any = None) -> None:
        super().__init__()
        _check_sizes(act_dim, hidden_sizes)
        self.members: nn.ModuleList | None = None
        self.ensemble: EnsembleMLP | None = None
        if kind == "vector":
            self.torso = _obs_torso(kind, obs_shape, hidden_sizes, obs_space, with_hidden=False)
            self.ensemble = EnsembleMLP(2, self.torso.out_dim + int(act_dim), hidden_sizes, 1)
        else:
            self.members = nn.ModuleList([Critic(kind, obs_shape, act_dim, hidden_sizes, obs_space) for _ in range(2)])

    def prepare(self, obs: torch.Tensor) -> torch.Tensor:
        """Raw observations → the float32 input of :meth:`forward`."""
        return self.torso.prepare(obs) if self.members is None else self.members[0].prepare(obs)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """``(obs, action)`` → ``[2, B]`` (``Q_1``, ``Q_2``)."""
        if self.ensemble is not None:
            return self.ensemble(torch.cat([self.torso(obs), action], dim=1)).squeeze(-1)
        return torch.stack([m(obs, action) for m in self.members])  # type: ignore[union-attr]

    def q(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """``Q_1(s, a)`` ``[B]``."""
        if self.members is not None:
            return self.members[0](obs, action)
        return self.forward(obs, action)[0]


class _Prepared(nn.Module):
    """Shared ``prepare`` of the acting modules: the policy torso's, then the optional running
    observation normalization (:class:`apexrl.nets.normalize.RunningObsNorm`, whose statistics
    are non-trainable parameters, so publication, checkpoints and export carry them)."""

    policy: nn.Module
    obs_norm: RunningObsNorm | None

    def prepare(self, obs: torch.Tensor) -> torch.Tensor:
        """Raw observations → the float32 input both networks take (normalized if enabled)."""
        x = self.policy.prepare(obs)
        return x if self.obs_norm is None else self.obs_norm(x)


class DPGNetworks(_Prepared):
    """The acting module of the deterministic-policy-gradient agents: ``policy`` μ and ``critic``
    (a :class:`Critic`, :class:`TwinCritic` or :class:`CategoricalCritic`); actors use the critic
    for initial priorities. ``forward(obs)`` = ``μ(obs)`` ``[B, d]`` in ``[-1, 1]`` (``obs`` as
    :meth:`prepare` gives it). ``obs_norm``: running observation normalization or None."""

    def __init__(self, policy: DeterministicPolicy, critic: nn.Module, obs_norm: RunningObsNorm | None = None) -> None:
        super().__init__()
        self.policy = policy
        self.critic = critic
        self.obs_norm = obs_norm

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """``μ(obs)`` ``[B, d]``."""
        return self.policy(obs)


class SACNetworks(_Prepared):
    """The acting module of SAC: ``policy`` (:class:`GaussianPolicy`) and ``critic``
    (:class:`TwinCritic`). ``forward(obs)`` = the deterministic action ``tanh(mean)`` ``[B, d]``
    (``obs`` as :meth:`prepare` gives it). ``obs_norm``: running observation normalization or None."""

    def __init__(self, policy: GaussianPolicy, critic: TwinCritic, obs_norm: RunningObsNorm | None = None) -> None:
        super().__init__()
        self.policy = policy
        self.critic = critic
        self.obs_norm = obs_norm

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """``tanh(mean(obs))`` ``[B, d]``."""
        return self.policy.deterministic(obs)


def _obs_norm(kind: str, obs_shape: Sequence[int], obs_space: Any, normalize: bool) -> RunningObsNorm | None:
    if not normalize:
        return None
    if kind != "vector" or (obs_space is not None and not isinstance(obs_space, spaces.Box)):
        raise ValueError(f"observation normalization needs Box vector observations, got {obs_space or kind}")
    return RunningObsNorm((math.prod(int(d) for d in obs_shape),))


def build_dpg_networks(kind: str, obs_shape: Sequence[int], act_dim: int, hidden_sizes: Sequence[int], *,
                       twin_critics: bool = False, distributional: bool = False, num_atoms: int = 51,
                       v_min: float = -150.0, v_max: float = 150.0, obs_space: Any = None,
                       normalize_observations: bool = False) -> DPGNetworks:
    """μ and the critic of one DPG variant: a scalar :class:`Critic` (DDPG, Ape-X DPG), a
    :class:`TwinCritic` (TD3) or a :class:`CategoricalCritic` (D4PG); with
    ``normalize_observations`` a shared :class:`~apexrl.nets.normalize.RunningObsNorm`.

    Raises:
        ValueError: ``twin_critics`` together with ``distributional``; normalization of
            non-``Box`` or pixel observations; as the classes.
    """
    if twin_critics and distributional:
        raise ValueError("twin critics with a distributional critic are not supported")
    policy = DeterministicPolicy(kind, obs_shape, act_dim, hidden_sizes, obs_space)
    critic: nn.Module
    if distributional:
        critic = CategoricalCritic(kind, obs_shape, act_dim, hidden_sizes, num_atoms, v_min, v_max, obs_space)
    elif twin_critics:
        critic = TwinCritic(kind, obs_shape, act_dim, hidden_sizes, obs_space)
    else:
        critic = Critic(kind, obs_shape, act_dim, hidden_sizes, obs_space)
    return DPGNetworks(policy, critic, _obs_norm(kind, obs_shape, obs_space, normalize_observations))


def build_sac_networks(kind: str, obs_shape: Sequence[int], act_dim: int, hidden_sizes: Sequence[int],
                       obs_space: Any = None, normalize_observations: bool = False) -> SACNetworks:
    """SAC's Gaussian policy and twin critics (and the optional observation normalization).

    Raises:
        ValueError: as :func:`build_dpg_networks` and the classes.
    """
    return SACNetworks(GaussianPolicy(kind, obs_shape, act_dim, hidden_sizes, obs_space),
                       TwinCritic(kind, obs_shape, act_dim, hidden_sizes, obs_space),
                       _obs_norm(kind, obs_shape, obs_space, normalize_observations))
