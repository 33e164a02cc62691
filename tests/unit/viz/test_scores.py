"""apexrl score: normalization, aggregates (hand-computed) and the rliable intervals."""

import json

import numpy as np
import pytest

from apexrl.cli import parse
from apexrl.viz.reference_scores import ATARI, RANDOM_PLAY, atari_game, reference
from apexrl.viz.scores import (FinalScore, aggregates, interval_estimates, iqm, normalize,
                               probability_of_improvement, score_matrices)


def test_reference_tables():
    assert len(ATARI) == 57
    assert sum("seed 000" in r.source for r in ATARI.values()) == 22
    assert (ATARI["pong"].random, ATARI["pong"].human) == (-20.7, 14.6)
    assert (ATARI["montezuma_revenge"].random, ATARI["montezuma_revenge"].human) == (0.0, 4753.33)
    assert atari_game("ALE/UpNDown-v5") == "up_n_down" and atari_game("PongNoFrameskip-v4") == "pong"
    assert atari_game("CartPole-v1") is None
    assert RANDOM_PLAY["MinAtar/Asterix-v1"].random == 0.5 and reference("MinAtar/Breakout-v1").human is None


def test_human_normalized_scores_by_hand():
    assert normalize(14.6, "ALE/Pong-v5", "human") == pytest.approx(1.0)
    assert normalize(-20.7, "ALE/Pong-v5", "human") == pytest.approx(0.0)
    assert normalize(16.1, "ALE/Breakout-v5", "human") == pytest.approx((16.1 - 1.7) / (30.5 - 1.7))  # 0.5
    assert normalize(16.1, "ALE/Breakout-v5", "human") == pytest.approx(0.5)
    np.testing.assert_allclose(normalize(np.array([1.7, 59.3]), "ALE/Breakout-v5", "human"), [0.0, 2.0])
    assert normalize(10.46, "MinAtar/Breakout-v1", "random") == pytest.approx(10.0)
    assert normalize(3.0, "CartPole-v1", "none") == 3.0
    with pytest.raises(ValueError, match="--normalize random"):
        normalize(3.0, "MinAtar/Breakout-v1", "human")
    with pytest.raises(ValueError, match="--normalize none"):
        normalize(3.0, "MyEnv-v0", "random")


def test_iqm_median_mean_and_optimality_gap_by_hand():
    m = np.array([[1.0, 2.0, 3.0, 4.0], [8.0, 7.0, 6.0, 5.0]])  # 2 runs x 4 tasks
    assert iqm(m) == pytest.approx(4.5)  # middle 50% of 1..8: (3+4+5+6)/4
    m2 = np.array([[1.0, 10.0, 3.0], [3.0, 20.0, 5.0]])
    agg = aggregates(m2)
    assert agg["median"] == pytest.approx(4.0)  # median of the task means 2, 15, 4
    assert agg["mean"] == pytest.approx(42.0 / 6)
    assert aggregates(np.array([[0.5, 1.5]]))["optimality_gap"] == pytest.approx(0.25)  # (0.5 + 0) / 2


def test_rliable_intervals_contain_the_hand_computed_point_estimates():
    m = np.array([[0.1, 0.9, 0.4], [0.3, 1.1, 0.6], [0.2, 1.0, 0.5]])
    out = interval_estimates({"a": m}, reps=300)["aggregates"]["a"]
    for name, value in aggregates(m).items():
        assert out[name]["value"] == pytest.approx(value)
        assert out[name]["ci"][0] <= value + 1e-12 and value - 1e-12 <= out[name]["ci"][1]
    const = interval_estimates({"c": np.ones((3, 2))}, reps=100)["aggregates"]["c"]
    assert const["iqm"] == {"value": 1.0, "ci": [1.0, 1.0]}


def test_probability_of_improvement_by_hand():
    value, ci = probability_of_improvement(np.array([[1.0], [2.0]]), np.array([[0.0], [3.0]]), reps=200)
    assert value == pytest.approx(0.5)  # 1>0, 1<3, 2>0, 2<3
    assert 0.0 <= ci[0] <= 0.5 <= ci[1] <= 1.0
    assert probability_of_improvement(np.array([[5.0], [6.0]]), np.array([[1.0], [2.0]]), reps=50)[0] == 1.0


def test_score_matrices_are_rectangular_per_algorithm():
    scores = [FinalScore("a", "ALE/Pong-v5", s, v, "x", f"p{s}") for s, v in ((0, 14.6), (1, -20.7), (2, 0.0))]
    scores += [FinalScore("a", "ALE/Breakout-v5", 0, 30.5, "x", "q0"), FinalScore("a", "ALE/Breakout-v5", 1, 1.7, "x", "q1")]
    matrices, tasks, notes = score_matrices(scores, "human")
    assert tasks == ["ALE/Breakout-v5", "ALE/Pong-v5"]
    np.testing.assert_allclose(matrices["a"], [[1.0, 1.0], [0.0, 0.0]])  # seeds 0, 1 of each task
    assert notes == ["a on ALE/Pong-v5: 3 runs, the first 2 by seed used (the fewest of its tasks)"]


def test_apexrl_score_writes_json_and_markdown(make_run, tmp_path, capsys):
    for seed, (pong, breakout) in enumerate([(14.6, 16.1), (-20.7, 1.7)]):
        make_run(f"pong{seed}", env_id="ALE/Pong-v5", seed=seed, summary={"final_eval_return": pong})
        make_run(f"brk{seed}", env_id="ALE/Breakout-v5", seed=seed,
                 rows=[{"env_frames": 10, "eval_return": 0.0}, {"env_frames": 20, "eval_return": breakout}])
        make_run(f"dqn{seed}", algo="dqn", env_id="ALE/Pong-v5", seed=seed, summary={"final_eval_return": -20.7})
    out = tmp_path / "report"
    assert parse(["score", str(tmp_path), "--out", str(out), "--reps", "200"]).run() == 0
    printed = capsys.readouterr().out
    assert "| apex-dqn | ALE/Pong-v5 | 2 | -3.05 | 0.5 |" in printed
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["aggregates"]["apex-dqn"]["mean"]["value"] == pytest.approx(0.375)  # (1 + 0 + 0.5 + 0) / 4
    assert report["aggregates"]["dqn"]["mean"]["value"] == pytest.approx(0.0)
    (pair,) = report["probability_of_improvement"]
    assert (pair["x"], pair["y"], pair["tasks"], pair["value"]) == ("apex-dqn", "dqn", ["ALE/Pong-v5"], 0.75)
    brk = next(r for r in report["per_task"] if r["task"] == "ALE/Breakout-v5")
    assert brk["sources"] == ["last evaluation in metrics.csv"]
    assert (tmp_path / "report.md").read_text().startswith("## Per-task scores (human-normalized")
