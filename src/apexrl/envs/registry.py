"""Finding an environment id: Gymnasium's registry, the ALE/MinAtar/dm_control families, ``module:EnvId``.

:func:`check_env_id` fails fast, before any process starts, with Gymnasium's explanation and
close registered ids; :func:`env_kind` names the preprocessing family :func:`apexrl.envs.make_env`
applies. Re-exported by :mod:`apexrl.envs.make` and :mod:`apexrl.envs`.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Literal

import gymnasium as gym
from gymnasium.envs.registration import EnvSpec, load_env_creator

from apexrl.envs.control import CONTROL_EXTRA, is_dm_control_id, register_dm_control
from apexrl.envs.popgym import POPGYM_EXTRA, is_popgym_id, register_popgym

__all__ = ["MUJOCO_EXTRA", "EnvKind", "check_env_id", "env_kind", "is_mujoco_spec", "register_env_families",
           "resolve_spec", "spec_kind"]

MUJOCO_EXTRA = "pip install 'apexrl[mujoco]'"
"""How to install what Gymnasium's MuJoCo ids (``HalfCheetah-v5``, ...) need (quoted in errors)."""

EnvKind = Literal["atari", "minatar", "vector"]

_MINATAR_PROBE_ID = "MinAtar/Breakout-v1"


def register_env_families() -> None:
    """Register the ALE (``ALE/*``) and MinAtar (``MinAtar/*``) ids with Gymnasium.

    Idempotent and cheap after the first call. Importing ``ale_py`` registers the ALE ids;
    ``minatar.gym.register_envs()`` is called only if the MinAtar ids are missing (calling
    it twice would make Gymnasium warn about overriding ids).
    """
    import ale_py

    gym.register_envs(ale_py)
    if _MINATAR_PROBE_ID not in gym.registry:
        import minatar.gym

        minatar.gym.register_envs()


def _split_module(env_id: str) -> tuple[str | None, str]:
    if not isinstance(env_id, str):
        raise TypeError(f"env_id must be a str; got {type(env_id).__name__} {env_id!r}")
    if env_id.count(":") > 1:
        raise ValueError(
            f"Invalid environment id {env_id!r}: expected 'EnvId' or 'module:EnvId' "
            "with at most one ':'"
        )
    if ":" in env_id:
        module, name = env_id.split(":")
        if not module or not name:
            raise ValueError(
                f"Invalid environment id {env_id!r}: expected 'module:EnvId' with both "
                "parts non-empty"
            )
        return module, name
    return None, env_id


def _import_env_module(module: str, env_id: str) -> None:
    try:
        importlib.import_module(module)
    except Exception as e:  # noqa: BLE001 - any import failure is reported the same way
        raise ValueError(
            f"Cannot import module {module!r} named in environment id {env_id!r} "
            f"(the 'module:EnvId' form imports the module so that it registers EnvId): "
            f"{type(e).__name__}: {e}"
        ) from e


def _close_ids(name: str, n: int = 3) -> list[str]:
    return difflib.get_close_matches(name, list(gym.registry), n=n, cutoff=0.6)


def resolve_spec(env_id: str) -> EnvSpec:
    """Register families, import the module of a ``module:EnvId`` id and find its spec.

    Raises:
        ValueError: as :func:`check_env_id` (unknown id, unimportable module, missing extra).
    """
    register_env_families()
    module, name = _split_module(env_id)
    if module is not None:
        _import_env_module(module, env_id)
    if is_dm_control_id(name) and not register_dm_control():
        raise ValueError(
            f"Environment id {env_id!r} is a DeepMind Control Suite task (Shimmy's dm_control/* ids), "
            f"which needs the `control` extra: {CONTROL_EXTRA}"
        )
    if is_popgym_id(name) and not register_popgym():
        raise ValueError(f"Environment id {env_id!r} is a POPGym task, which needs the `popgym` extra: {POPGYM_EXTRA}")
    try:
        return gym.spec(name)
    except gym.error.Error as e:
        message = str(e)
        close = [c for c in _close_ids(name) if c != name]
        if close:
            listed = ", ".join(f"`{c}`" for c in close)
            if "Did you mean" in message:
                message += f" Close registered ids: {listed}."
            else:
                message += f" Did you mean: {listed}?"
        raise ValueError(
            f"Unknown environment id {env_id!r}: {message} "
            "(`gymnasium.pprint_registry()` lists all registered ids.)"
        ) from e


def spec_kind(spec: EnvSpec) -> EnvKind:
    """The family of a registered spec: see :func:`env_kind`."""
    entry = spec.entry_point
    if callable(entry):
        entry = f"{getattr(entry, '__module__', '')}:{getattr(entry, '__qualname__', '')}"
    entry = entry or ""
    if spec.namespace == "ALE" or entry.startswith("ale_py"):
        return "atari"
    if spec.namespace == "MinAtar" or entry.startswith("minatar"):
        return "minatar"
    return "vector"


def is_mujoco_spec(spec: EnvSpec) -> bool:
    """Whether ``spec`` is one of Gymnasium's MuJoCo envs (entry point in ``gymnasium.envs.mujoco``)."""
    return isinstance(spec.entry_point, str) and spec.entry_point.startswith("gymnasium.envs.mujoco")


def check_env_id(env_id: str) -> None:
    """Fail fast, before any process starts, if ``env_id`` cannot be made.

    Registers the ALE and MinAtar ids first (and Shimmy's ``dm_control/*`` ids for such an
    id, see :mod:`apexrl.envs.control`), imports ``module`` for a ``module:EnvId`` id,
    looks the id up in Gymnasium's registry and loads its entry point (which catches a
    missing optional dependency such as Box2D). Nothing is instantiated.

    Args:
        env_id: a Gymnasium id (``"CartPole-v1"``, ``"ALE/Pong-v5"``,
            ``"MinAtar/Breakout-v1"``) or ``"module:EnvId"``.

    Raises:
        ValueError: for an unknown or deprecated id, with Gymnasium's own explanation
            (including its "Did you mean: ...?" suggestion of close names) plus the
            closest registered full ids; for a module that cannot be imported, naming the
            module; for an entry point that cannot be loaded, naming it (and the ``mujoco``
            extra for a MuJoCo id); for a ``dm_control/*`` id without the ``control`` extra.
        TypeError: if ``env_id`` is not a string.
    """
    spec = resolve_spec(env_id)
    if isinstance(spec.entry_point, str):
        try:
            load_env_creator(spec.entry_point)
        except Exception as e:  # noqa: BLE001
            hint = ""
            if is_mujoco_spec(spec):
                hint = f" (MuJoCo ids need apexrl's `mujoco` extra: {MUJOCO_EXTRA})"
            raise ValueError(
                f"Environment id {env_id!r} is registered but its entry point "
                f"{spec.entry_point!r} cannot be loaded: {type(e).__name__}: {e}{hint}"
            ) from e
    elif spec.entry_point is None:
        raise ValueError(f"Environment id {env_id!r} is registered without an entry point")


def env_kind(env_id: str) -> EnvKind:
    """The preprocessing family of ``env_id``.

    Returns:
        ``"atari"`` for ALE ids (namespace ``ALE`` or entry point in ``ale_py``),
        ``"minatar"`` for MinAtar ids, ``"vector"`` for everything else.

    Raises:
        ValueError: for an unknown id (see :func:`check_env_id`).
    """
    return spec_kind(resolve_spec(env_id))
