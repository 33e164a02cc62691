"""Pure loss functions: (batch, networks) -> loss, new priorities, metrics."""

from apexrl.losses.dqn import LossOutput, TorchBatch, double_q_targets, dqn_loss

__all__ = ["LossOutput", "TorchBatch", "double_q_targets", "dqn_loss"]
