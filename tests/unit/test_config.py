"""Config validation names the field and the flag; round trip through dicts."""

import pytest

from apexrl.agents.dqn.apex_dqn import PRESETS
from apexrl.config import ApexDQNConfig, DQNConfig, EpsilonGreedyConfig, ReplayConfig, RunConfig, from_dict, to_dict


@pytest.mark.parametrize(
    "factory, field, flag",
    [
        (lambda: DQNConfig(batch_size=0), "batch_size", "--batch-size"),
        (lambda: DQNConfig(gamma=1.5), "gamma", "--gamma"),
        (lambda: DQNConfig(n_step=0), "n_step", "--n-step"),
        (lambda: ReplayConfig(priority_exponent=-1), "priority_exponent", "--priority-exponent"),
        (lambda: ReplayConfig(importance_sampling_exponent=2), "importance_sampling_exponent",
         "--importance-sampling-exponent"),
        (lambda: EpsilonGreedyConfig(epsilon=1.5), "epsilon", "--epsilon"),
        (lambda: RunConfig(num_actors=0), "num_actors", "--actors"),
        (lambda: RunConfig(total_env_frames=-5), "total_env_frames", "--frames"),
        (lambda: RunConfig(max_checkpoint_failures=0), "max_checkpoint_failures", "--max-checkpoint-failures"),
    ],
)
def test_invalid_values_raise_value_error_naming_field_and_flag(factory, field, flag):
    with pytest.raises(ValueError) as info:
        factory()
    assert field in str(info.value) and flag in str(info.value)


def test_cross_field_check():
    with pytest.raises(ValueError, match="learning_starts"):
        ApexDQNConfig(replay=ReplayConfig(learning_starts=10), learner=DQNConfig(batch_size=64))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_round_trip_through_dict(name):
    config = PRESETS[name]()
    assert from_dict(ApexDQNConfig, to_dict(config)) == config


def test_from_dict_rejects_unknown_field():
    data = to_dict(ApexDQNConfig())
    data["learner"]["batch_sise"] = 3
    with pytest.raises(ValueError, match="batch_sise"):
        from_dict(ApexDQNConfig, data)
