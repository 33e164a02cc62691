"""The DeepMind Control Suite (Tassa et al. 2018) through Shimmy's ``dm_control/<domain>-<task>-v0`` ids.

Needs the ``control`` extra (``pip install 'apexrl[control]'``: Shimmy and dm-control).
``import shimmy`` registers the ids with ``functools.partial`` entry points around a function
local to Shimmy's registration code, which cannot be pickled, so neither can ``env.spec``
(and ``gymnasium.make(env.spec)`` in another process fails). :func:`register_dm_control`
therefore points every suite id at :func:`make_suite_env`, a module-level function that
builds the same env (``dm_control.suite.load`` wrapped in Shimmy's
``DmControlCompatibilityV0``). The suite's own time limit (1,000 steps for most tasks) ends
episodes with ``truncated=True``.

Rendering: dm_control picks its OpenGL backend when first imported. On a machine without a
display and without ``MUJOCO_GL`` set, its default (GLFW) cannot work and warns
``X11: The DISPLAY environment variable is missing`` in every process; apexrl then imports
it with ``MUJOCO_GL=disable`` (set for that import only). Set ``MUJOCO_GL=egl`` or
``osmesa`` yourself for headless rendering.

MuJoCo's own warnings (e.g. MuJoCo 3.17's "compiler attribute 'settotalmass' is deprecated" for
``HalfCheetah-v5``'s XML, or "Nan, Inf or huge value in QACC") go to stderr *and* to a
``MUJOCO_LOG.TXT`` file in the working directory unless a handler is set;
:func:`route_mujoco_warnings` sets one that issues them as Python ``RuntimeWarning`` instead
(each message shown once per process, no file).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import gymnasium as gym

__all__ = [
    "CONTROL_EXTRA",
    "DM_CONTROL_PREFIX",
    "is_dm_control_id",
    "make_suite_env",
    "register_dm_control",
    "route_mujoco_warnings",
]

DM_CONTROL_PREFIX = "dm_control/"
CONTROL_EXTRA = "pip install 'apexrl[control]'"
"""How to install what ``dm_control/*`` ids need (quoted in errors)."""

_registered = False


def is_dm_control_id(env_id: str) -> bool:
    """Whether ``env_id`` names a Shimmy dm_control env (``dm_control/...``)."""
    return env_id.startswith(DM_CONTROL_PREFIX)


@contextlib.contextmanager
def _headless_gl() -> Iterator[None]:
    """``MUJOCO_GL=disable`` while importing dm_control on a machine without a display."""
    unset = "MUJOCO_GL" not in os.environ and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if unset:
        os.environ["MUJOCO_GL"] = "disable"
    try:
        yield
    finally:
        if unset:
            os.environ.pop("MUJOCO_GL", None)


def _mujoco_warning(message: str) -> None:
    try:
        warnings.warn(f"MuJoCo: {message}", RuntimeWarning, stacklevel=2)
    except Exception:  # noqa: BLE001 - a filter set to "error" must not raise into MuJoCo's C code
        sys.stderr.write(f"MuJoCo warning: {message}\n")


def route_mujoco_warnings() -> None:
    """Issue MuJoCo's warnings as Python ``RuntimeWarning`` (``"MuJoCo: <text>"``) instead of
    printing them and appending them to ``./MUJOCO_LOG.TXT``.

    Only if MuJoCo is importable and no warning handler is set yet (one the user set stays).
    """
    try:
        import mujoco
    except ImportError:
        return
    if mujoco.get_mju_user_warning() is None:
        mujoco.set_mju_user_warning(_mujoco_warning)


def register_dm_control() -> bool:
    """Register the ``dm_control/*`` ids (``import shimmy``) with picklable suite entry points.

    Idempotent. Suite ids (``dm_control/<domain>-<task>-v0``) get the entry point
    ``apexrl.envs.control:make_suite_env`` with kwargs ``domain_name`` and ``task_name``;
    Shimmy's other ids (locomotion, manipulation) keep its own entry points.

    Returns:
        True if the ids are registered; False if Shimmy or dm-control is not installed.
    """
    global _registered
    if _registered:
        return True
    try:
        with _headless_gl():
            import dm_control.suite  # noqa: F401
            import shimmy  # noqa: F401  (registers the ids on import)
            from shimmy.utils.envs_configs import DM_CONTROL_SUITE_ENVS
    except ImportError:
        return False
    for domain, task in DM_CONTROL_SUITE_ENVS:
        env_id = f"{DM_CONTROL_PREFIX}{domain}-{task}-v0"
        spec = gym.registry.get(env_id)
        if spec is None or isinstance(spec.entry_point, str):
            continue
        # Replaced in place: gym.register would warn about overriding an id.
        gym.registry[env_id] = dataclasses.replace(
            spec,
            entry_point=f"{__name__}:make_suite_env",
            kwargs={"domain_name": domain, "task_name": task, **spec.kwargs},
        )
    _registered = True
    return True


def make_suite_env(
    domain_name: str,
    task_name: str,
    task_kwargs: dict[str, Any] | None = None,
    environment_kwargs: dict[str, Any] | None = None,
    visualize_reward: bool = False,
    **render_kwargs: Any,
) -> gym.Env:
    """One DeepMind Control Suite task as a Gymnasium env (Shimmy's ``DmControlCompatibilityV0``).

    Same arguments and result as Shimmy's registered entry point: observations are a ``Dict``
    of ``float64`` arrays, actions a ``float64`` ``Box`` (:func:`apexrl.envs.make_env`
    flattens the one and casts both to ``float32``); ``reset(seed=s)`` seeds the task's
    ``RandomState``.

    Args:
        domain_name: e.g. ``"cartpole"``.
        task_name: e.g. ``"swingup"``.
        task_kwargs, environment_kwargs, visualize_reward: passed to ``dm_control.suite.load``.
        **render_kwargs: ``render_mode`` / ``render_kwargs`` for ``DmControlCompatibilityV0``.

    Raises:
        ValueError: the ``control`` extra is not installed.
    """
    try:
        with _headless_gl():
            from dm_control import suite
            from shimmy.dm_control_compatibility import DmControlCompatibilityV0
    except ImportError as e:
        raise ValueError(f"dm_control/{domain_name}-{task_name}-v0 needs the `control` extra: {CONTROL_EXTRA} "
                         f"({type(e).__name__}: {e})") from e
    route_mujoco_warnings()
    env = suite.load(domain_name=domain_name, task_name=task_name, task_kwargs=task_kwargs,
                     environment_kwargs=environment_kwargs, visualize_reward=visualize_reward)
    return DmControlCompatibilityV0(env, **render_kwargs)
