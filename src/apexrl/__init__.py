"""apexrl: distributed deep reinforcement learning around Ape-X (Horgan et al. 2018).

Public API:
    train(config, algo, resume=None) -> summary  train any registered agent (apexrl.agents.AGENTS)
    train_apex_dqn(config) -> summary dict       train Ape-X DQN on one machine
    ApexDQNConfig, RunConfig, ReplayConfig, ActorConfig, DQNConfig   frozen configs
    make_env, make_vector_env                    Gymnasium environments with standard preprocessing
    PrioritizedReplay, ArrayStorage, FrameStorage, NStepAdder, SumTree   replay parts
    dqn_loss                                     the n-step double-Q loss as a pure function
    load_policy(path) -> Policy                  a policy written by `apexrl export`, for inference
"""

from apexrl.config import ActorConfig, ApexDQNConfig, DQNConfig, EpsilonGreedyConfig, ReplayConfig, RunConfig

__version__ = "0.1.0"

__all__ = [
    "ActorConfig",
    "EpsilonGreedyConfig",
    "ApexDQNConfig",
    "DQNConfig",
    "ReplayConfig",
    "RunConfig",
    "__version__",
    "load_policy",
    "train",
    "train_apex_dqn",
]


def __getattr__(name: str):  # lazy: keep `import apexrl` light for actor processes and the CLI
    if name == "train":
        from apexrl.runtime.run import train

        return train
    if name == "train_apex_dqn":
        from apexrl.runtime.run import train

        def train_apex_dqn(config: ApexDQNConfig, resume: str | None = None) -> dict:
            """Train Ape-X DQN (``train(config, "apex-dqn", resume)``)."""
            return train(config, "apex-dqn", resume)

        return train_apex_dqn
    if name in ("make_env", "make_vector_env"):
        import apexrl.envs as envs

        return getattr(envs, name)
    if name in ("PrioritizedReplay", "ArrayStorage", "FrameStorage", "NStepAdder", "SumTree"):
        import apexrl.replay as replay

        return getattr(replay, name)
    if name in ("load_policy", "Policy"):
        import apexrl.runtime.policy as policy

        return getattr(policy, name)
    if name == "dqn_loss":
        from apexrl.losses import dqn_loss

        return dqn_loss
    raise AttributeError(f"module 'apexrl' has no attribute {name!r}")
