"""Action rescaling between the policy's [-1, 1] and a Box's bounds, and Box bounds in JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
from gymnasium import spaces

from apexrl.envs.spaces import scale_actions, space_from_json, space_to_json, unscale_actions


def test_scale_actions_maps_the_bounds_and_round_trips():
    low, high = np.array([-2.0, 0.0, -1.0], np.float32), np.array([2.0, 10.0, 3.0], np.float32)
    a = np.array([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.5, -0.5, 0.25]], np.float32)
    env = scale_actions(a, low, high)
    assert env.dtype == np.float32
    np.testing.assert_array_equal(env[0], low)  # -1 -> low exactly
    np.testing.assert_array_equal(env[1], high)  # 1 -> high exactly
    np.testing.assert_allclose(env[2], [0.0, 5.0, 1.0])  # the midpoints
    np.testing.assert_allclose(env[3], [1.0, 2.5, 1.5])  # -2 + 1.5*2, 0 + 0.25*10, -1 + 0.625*4
    np.testing.assert_allclose(unscale_actions(env, low, high), a, atol=1e-7)
    np.testing.assert_array_equal(unscale_actions(np.stack([low, high]), low, high), [[-1] * 3, [1] * 3])


def test_scale_actions_clips_and_takes_pendulum_scalars():
    out = scale_actions(np.array([[1.5], [-3.0]]), -2.0, 2.0)  # Pendulum-v1: Box(-2, 2, (1,))
    np.testing.assert_array_equal(out, [[2.0], [-2.0]])
    np.testing.assert_array_equal(unscale_actions(np.array([[9.0]]), -2.0, 2.0), [[1.0]])


def test_scale_actions_refuses_unbounded_or_empty_boxes():
    with pytest.raises(ValueError, match="finite"):
        scale_actions(np.zeros((1, 2)), [-1, -np.inf], [1, 1])
    with pytest.raises(ValueError, match="low < high"):
        unscale_actions(np.zeros((1, 1)), [1.0], [1.0])


def test_box_bounds_survive_json_and_infinite_ones_become_null():
    box = spaces.Box(np.array([-2.0, -1.0], np.float32), np.array([2.0, 0.5], np.float32))
    data = json.loads(json.dumps(space_to_json(box)))
    assert data["low"] == [-2.0, -1.0] and data["high"] == [2.0, 0.5]
    assert space_from_json(data) == box
    half = spaces.Box(np.array([0.0, -np.inf], np.float32), np.array([np.inf, 1.0], np.float32))
    text = json.dumps(space_to_json(half))
    assert "Infinity" not in text  # strict JSON
    assert json.loads(text)["low"] == [0.0, None]
    assert space_from_json(json.loads(text)) == half
    legacy = space_from_json({"type": "Box", "shape": [3], "dtype": "float32"})  # no bounds stored
    assert legacy.shape == (3,) and np.isinf(legacy.low).all()
