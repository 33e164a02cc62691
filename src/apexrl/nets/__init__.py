"""Neural networks: torsos (MLP, Nature CNN, MinAtar conv) and Q heads (plain, dueling).

Built from :mod:`torch.nn` layers. Every torso maps observations ``[B, *obs_shape]`` (any
dtype; pixels in ``uint8`` are scaled by 1/255 inside) to features ``[B, D]`` ``float32``;
``Discrete`` / ``MultiDiscrete`` / ``MultiBinary`` observations are one-hot / float encoded by
:func:`build_encoder` (:mod:`apexrl.nets.encoders`) inside the network.
"""

from apexrl.nets.builders import build_dqn_network
from apexrl.nets.encoders import BinaryEncoder, IdentityEncoder, OneHotEncoder, build_encoder
from apexrl.nets.noisy import NoisyLinear, reset_noise
from apexrl.nets.q import DuelingHead, LinearHead, QNetwork, build_q_network
from apexrl.nets.torsos import MinAtarTorso, MLPTorso, NatureCNNTorso, build_torso

__all__ = [
    "BinaryEncoder",
    "IdentityEncoder",
    "OneHotEncoder",
    "build_encoder",
    "NoisyLinear",
    "build_dqn_network",
    "reset_noise",
    "DuelingHead",
    "LinearHead",
    "MLPTorso",
    "MinAtarTorso",
    "NatureCNNTorso",
    "QNetwork",
    "build_q_network",
    "build_torso",
]
