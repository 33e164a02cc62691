"""The Learner contract for every continuous agent variant: an update changes the networks and
returns finite priorities, a state_dict round trip restores exactly, a NaN batch is skipped,
mismatched checkpoints raise ValueError."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from apexrl.agents import dpg, sac
from apexrl.agents.dpg import DPGAgentConfig, DPGConfig
from apexrl.agents.sac import SACAgentConfig, SACConfig
from apexrl.config import ReplayConfig
from apexrl.envs import env_info
from apexrl.types import SampledBatch, Transitions

B = 16
_REPLAY = ReplayConfig(learning_starts=B)
VARIANTS = {
    "ddpg": (dpg, DPGAgentConfig(replay=_REPLAY, learner=DPGConfig(batch_size=B, hidden_sizes=(16, 16)))),
    "td3": (dpg, DPGAgentConfig(replay=_REPLAY, learner=DPGConfig(
        batch_size=B, hidden_sizes=(16, 16), twin_critics=True, policy_delay=2, target_policy_noise=0.2,
        target_update_period=2))),
    "d4pg": (dpg, DPGAgentConfig(replay=_REPLAY, learner=DPGConfig(
        batch_size=B, hidden_sizes=(16, 16), n_step=5, distributional=True, num_atoms=11, v_min=-10, v_max=10,
        tau=1.0, target_update_period=2))),
    "sac": (sac, SACAgentConfig(replay=_REPLAY, learner=SACConfig(batch_size=B, hidden_sizes=(16, 16)))),
}


def _sample(seed: int = 0, nan: bool = False) -> SampledBatch:
    rng = np.random.default_rng(seed)
    obs = rng.uniform(-1, 1, (B, 3)).astype(np.float32)
    if nan:
        obs[3, 1] = np.nan
    data = Transitions(obs=obs, action=rng.uniform(-1, 1, (B, 1)).astype(np.float32),
                       reward=rng.normal(size=B).astype(np.float32),
                       discount=np.where(rng.random(B) < 0.2, 0.0, 0.99).astype(np.float32),
                       next_obs=rng.uniform(-1, 1, (B, 3)).astype(np.float32))
    return SampledBatch(np.arange(B), data, rng.uniform(0.2, 1.0, B).astype(np.float32))


def _learner(name: str, seed: int = 0):
    module, config = VARIANTS[name]
    return module.build_learner(config, env_info("Pendulum-v1"), seed, torch.device("cpu"))


def _params(learner) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in learner.state_dict()[0].items() if k.startswith(("online.", "target"))}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_update_changes_the_networks_and_returns_finite_priorities(name):
    learner = _learner(name)
    before = _params(learner)
    for step in range(2):
        priorities, metrics = learner.update(_sample(step))
        assert priorities.shape == (B,) and priorities.dtype == np.float32 and np.isfinite(priorities).all()
        assert (priorities >= 0).all()
    after = _params(learner)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("online.policy.") for k in changed)
    assert any(k.startswith("online.critic.") for k in changed)
    assert any(k.startswith("target") for k in changed)  # target update after 2 steps (every variant's period)
    for key in ("learner/loss", "learner/actor_loss", "learner/q_mean", "learner/td_abs_mean",
                "learner/learning_rate"):
        assert np.isfinite(metrics[key]), key
    if name == "sac":
        assert metrics["learner/alpha"] != 1.0  # autotuned
    if name == "d4pg":  # tau = 1: the targets are a copy of the online networks after the period
        for key, value in learner.target.state_dict().items():
            assert torch.equal(value, learner.networks.state_dict()[key]), key
    assert learner.skipped_updates == 0 and learner.consecutive_skipped == 0


def test_td3_delays_the_policy_update():
    learner = _learner("td3")
    policy0 = {k: v.clone() for k, v in learner.networks.policy.state_dict().items()}
    learner.update(_sample(0))
    assert all(torch.equal(policy0[k], v) for k, v in learner.networks.policy.state_dict().items())
    learner.update(_sample(1))
    assert not all(torch.equal(policy0[k], v) for k, v in learner.networks.policy.state_dict().items())


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_state_dict_round_trip_restores_exactly(name):
    learner = _learner(name)
    for step in range(3):
        learner.update(_sample(step))
    tensors, meta = learner.state_dict()
    assert all(v.device.type == "cpu" for v in tensors.values())
    restored = _learner(name, seed=7)
    restored.load_state_dict({k: v.clone() for k, v in tensors.items()}, meta)
    again, _ = restored.state_dict()
    assert set(again) == set(tensors)
    for key, value in tensors.items():
        assert torch.equal(value, again[key]), key
    assert restored.steps == learner.steps == 3
    p1, m1 = learner.update(_sample(9))  # the same next step: optimizers and noise generator restored
    p2, m2 = restored.update(_sample(9))
    np.testing.assert_array_equal(p1, p2)
    np.testing.assert_equal(m1, m2)  # NaN-aware (no gradient norm without clipping)


def test_mismatched_checkpoints_raise_value_error():
    tensors, meta = _learner("td3").state_dict()
    with pytest.raises(ValueError, match="twin_critics"):
        _learner("ddpg").load_state_dict(tensors, meta)
    with pytest.raises(ValueError, match="'dpg' learner, not a 'sac'"):
        _learner("sac").load_state_dict(tensors, meta)
    wide = dpg.build_learner(DPGAgentConfig(replay=_REPLAY, learner=DPGConfig(batch_size=B, hidden_sizes=(32,))),
                             env_info("Pendulum-v1"), 0, torch.device("cpu"))
    with pytest.raises(ValueError, match="does not fit"):
        wide.load_state_dict(*_learner("ddpg").state_dict())


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_nan_batch_is_skipped(name):
    learner = _learner(name)
    learner.update(_sample(0))
    before = _params(learner)
    opt_before = {k: v.clone() for k, v in learner.state_dict()[0].items() if "optimizer" in k}
    priorities, _ = learner.update(_sample(1, nan=True))
    assert learner.skipped_updates == 1 and learner.consecutive_skipped == 1
    assert np.isfinite(priorities).all() and priorities[3] == 0.0
    after = _params(learner)
    for key, value in before.items():
        if key.startswith("online."):
            assert torch.equal(value, after[key]), key
    opt_after = learner.state_dict()[0]
    for key, value in opt_before.items():
        assert torch.equal(value, opt_after[key]), key
    learner.update(_sample(2))
    assert learner.consecutive_skipped == 0 and learner.skipped_updates == 1


def test_learning_rate_schedule():
    config = DPGAgentConfig(replay=_REPLAY, learner=DPGConfig(batch_size=B, hidden_sizes=(8,), actor_learning_rate=1e-3,
                                                              critic_learning_rate=2e-3,
                                                              learning_rate_final_fraction=0.1))
    learner = dpg.build_learner(config, env_info("Pendulum-v1"), 0, torch.device("cpu"))
    learner.set_progress(0.5)
    assert learner.actor_optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.55)
    learner.set_progress(1.0)
    assert learner.critic_optimizer.param_groups[0]["lr"] == pytest.approx(2e-4)


@pytest.mark.parametrize("module, config", [
    (dpg, DPGAgentConfig(replay=_REPLAY, learner=DPGConfig(batch_size=B, hidden_sizes=(8,), normalize_observations=True))),
    (sac, SACAgentConfig(replay=_REPLAY, learner=SACConfig(batch_size=B, hidden_sizes=(8,), normalize_observations=True))),
])
def test_observation_normalization_is_learned_checkpointed_and_not_poisoned_by_nan(module, config):
    learner = module.build_learner(config, env_info("Pendulum-v1"), 0, torch.device("cpu"))
    norm = learner.networks.obs_norm
    learner.update(_sample(0))
    obs = _sample(0).data.obs
    np.testing.assert_allclose(norm.mean.detach().numpy(), obs.mean(0), atol=1e-4)  # the first batch dominates
    np.testing.assert_allclose(norm.var.detach().numpy(), obs.var(0), rtol=1e-3)
    stats = norm.mean.detach().clone()
    learner.update(_sample(1, nan=True))
    assert torch.equal(norm.mean.detach(), stats) and learner.skipped_updates == 1
    x = learner.networks.prepare(torch.from_numpy(obs))
    torch.testing.assert_close(x, (torch.from_numpy(obs) - norm.mean) / torch.sqrt(norm.var + 1e-8))
    tensors, meta = learner.state_dict()
    assert "online.obs_norm.mean" in tensors
    restored = module.build_learner(config, env_info("Pendulum-v1"), 3, torch.device("cpu"))
    restored.load_state_dict(tensors, meta)
    assert torch.equal(restored.networks.obs_norm.mean, norm.mean)
