"""Reference scores for normalizing: Atari random and human scores for the 57 games, and the
scores of uniformly random play measured here for MinAtar and classic control.

Atari (``ATARI``): the random-agent and human-tester scores of the DQN protocol (30 no-op starts,
episodes capped at 108K frames) that the DQN (Mnih et al. 2015, Nature 518, Extended Data Table 2,
49 games), Ape-X (Horgan et al. 2018) and R2D2 (Kapturowski et al. 2019) papers normalize with, for
all 57 games as collected in DeepMind's DQN Zoo (``dqn_zoo/atari_data.py``, Quan & Ostrovski 2020).
The rows marked ``seed`` are the 22 of the table in the project's seed document 000 (two decimals,
copied in ``shared/REFERENCES.md``); the rows marked ``zoo`` are the other 35, from the DQN Zoo table
that ``shared/REFERENCES.md`` also lists (one decimal), checked against the published table.

Human-normalized score = (agent − random) / (human − random) (times 100 for percent).

MinAtar and classic control (``RANDOM_PLAY``): the mean return of uniformly random actions over 200
episodes, measured on this project's environments (``apexrl.make_env(env_id, seed=0,
training=False)``: MinAtar's own defaults, sticky actions 0.1 and difficulty ramping; Gymnasium's
time limits), actions drawn by ``numpy.random.default_rng(0)``, with :func:`measure_random_play`.
MinAtar has no published human scores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_ATARI_TABLE = """\
alien,227.8,7127.7,zoo
amidar,5.8,1719.5,zoo
assault,222.4,742.0,zoo
asterix,210.0,8503.3,zoo
asteroids,719.1,47388.7,zoo
atlantis,12850.0,29028.1,zoo
bank_heist,14.2,753.1,zoo
battle_zone,2360.0,37187.5,zoo
beam_rider,363.9,16926.5,zoo
berzerk,123.7,2630.4,zoo
bowling,23.1,160.7,zoo
boxing,0.1,12.1,zoo
breakout,1.7,30.5,zoo
centipede,2090.87,12017.04,seed
chopper_command,811.00,7387.80,seed
crazy_climber,10780.50,35829.41,seed
defender,2874.50,18688.89,seed
demon_attack,152.07,1971.00,seed
double_dunk,-18.55,-16.40,seed
enduro,0.00,860.53,seed
fishing_derby,-91.71,-38.80,seed
freeway,0.01,29.60,seed
frostbite,65.20,4334.67,seed
gopher,257.60,2412.50,seed
gravitar,173.00,3351.43,seed
hero,1026.97,30826.38,seed
ice_hockey,-11.15,0.88,seed
jamesbond,29.00,302.80,seed
kangaroo,52.00,3035.00,seed
krull,1598.05,2665.53,seed
kung_fu_master,258.50,22736.25,seed
montezuma_revenge,0.00,4753.33,seed
ms_pacman,307.30,6951.60,seed
name_this_game,2292.35,8049.00,seed
phoenix,761.40,7242.60,seed
pitfall,-229.4,6463.7,zoo
pong,-20.7,14.6,zoo
private_eye,24.9,69571.3,zoo
qbert,163.9,13455.0,zoo
riverraid,1338.5,17118.0,zoo
road_runner,11.5,7845.0,zoo
robotank,2.2,11.9,zoo
seaquest,68.4,42054.7,zoo
skiing,-17098.1,-4336.9,zoo
solaris,1236.3,12326.7,zoo
space_invaders,148.0,1668.7,zoo
star_gunner,664.0,10250.0,zoo
surround,-10.0,6.5,zoo
tennis,-23.8,-8.3,zoo
time_pilot,3568.0,5229.2,zoo
tutankham,11.4,167.6,zoo
up_n_down,533.4,11693.2,zoo
venture,0.0,1187.5,zoo
video_pinball,16256.9,17667.9,zoo
wizard_of_wor,563.5,4756.5,zoo
yars_revenge,3092.9,54576.9,zoo
zaxxon,32.5,9173.3,zoo
"""


@dataclass(frozen=True)
class Reference:
    """Reference scores of one task.

    Attributes:
        task: the name scores are reported under (``pong``, ``MinAtar/Breakout-v1``, ``CartPole-v1``).
        random: mean return of random play (game points).
        human: mean return of the human testers (``None`` where there is none).
        source: where the numbers come from.
    """

    task: str
    random: float
    human: float | None
    source: str


_SOURCES = {
    "seed": "seed 000's table (shared/REFERENCES.md), as used by DQN / Ape-X / R2D2",
    "zoo": "DQN Zoo atari_data.py table (shared/REFERENCES.md), as used by DQN / Ape-X / R2D2",
}

ATARI: dict[str, Reference] = {
    game: Reference(game, float(random), float(human), _SOURCES[source])
    for game, random, human, source in (line.split(",") for line in _ATARI_TABLE.strip("\\\n").splitlines())
}
"""Atari game (snake case, as ``pong``, ``montezuma_revenge``) -> random and human scores."""

RANDOM_PLAY_SEED = 0
"""Seed of the environments and of the action generator of the measured random-play scores."""

RANDOM_PLAY: dict[str, Reference] = {
    # env id: (mean return of 200 episodes of uniformly random actions, standard error)
    env_id: Reference(env_id, mean, None, f"uniformly random actions, 200 episodes, seed {RANDOM_PLAY_SEED}, "
                                          f"measured here (standard error {se:.3g})")
    for env_id, (mean, se) in {
        "MinAtar/Asterix-v1": (0.500, 0.057),
        "MinAtar/Breakout-v1": (0.460, 0.047),
        "MinAtar/Freeway-v1": (0.335, 0.037),
        "MinAtar/Seaquest-v1": (0.110, 0.026),
        "MinAtar/SpaceInvaders-v1": (4.065, 0.219),
        "CartPole-v1": (22.51, 0.89),
        "Acrobot-v1": (-499.925, 0.075),
        "MountainCar-v0": (-200.0, 0.0),
    }.items()
}
"""Gymnasium id -> measured random-play score (no human score)."""


def atari_game(env_id: str) -> str | None:
    """The Atari game of an ALE id in snake case (``ALE/MontezumaRevenge-v5`` -> ``montezuma_revenge``,
    ``PongNoFrameskip-v4`` -> ``pong``), or ``None`` for an id that names no game of :data:`ATARI`."""
    name = env_id.split("/")[-1].split("-")[0].replace("NoFrameskip", "").replace("Deterministic", "")
    game = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    return game if game in ATARI else None


def reference(env_id: str) -> Reference | None:
    """The reference scores of an environment id (Atari by game, others by id), or ``None``."""
    game = atari_game(env_id)
    if game is not None and (env_id.startswith("ALE/") or "NoFrameskip" in env_id):
        return ATARI[game]
    return RANDOM_PLAY.get(env_id)


def measure_random_play(env_id: str, episodes: int = 200, seed: int = RANDOM_PLAY_SEED) -> tuple[float, float]:
    """Mean return and its standard error over ``episodes`` episodes of uniformly random actions
    on ``apexrl.make_env(env_id, seed=seed, training=False)`` (how :data:`RANDOM_PLAY` was measured).

    Raises:
        ValueError: ``episodes < 1``, or an unknown environment id.
    """
    from apexrl.envs import make_env

    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    env = make_env(env_id, seed=seed, training=False)
    rng = np.random.default_rng(seed)
    n = int(env.action_space.n)
    returns: list[float] = []
    env.reset(seed=seed)
    try:
        while len(returns) < episodes:
            _, _, terminated, truncated, info = env.step(int(rng.integers(n)))
            if terminated or truncated:
                returns.append(float(info["episode"]["r"]))
                env.reset()
    finally:
        env.close()
    return float(np.mean(returns)), float(np.std(returns) / np.sqrt(len(returns)))
