"""apexrl inspect: value decomposition, t-SNE, filters, and inspect.html for image and vector agents."""

import json
import os
import re

import numpy as np
import pytest
import torch

from apexrl.cli import parse
from apexrl.envs import env_info
from apexrl.nets import build_dqn_network
from apexrl.config import DQNConfig
from apexrl.viz.inspect import first_conv, hidden_features, tsne_embedding, value_decomposition

from .conftest import write_network_run


def test_tsne_has_one_point_per_state():
    features = np.random.default_rng(0).normal(size=(40, 16)).astype(np.float32)
    embedding = tsne_embedding(features)
    assert embedding.shape == (40, 2) and np.isfinite(embedding).all()
    with pytest.raises(ValueError, match="at least 5"):
        tsne_embedding(features[:3])


def test_values_of_a_dueling_network_are_its_streams_and_otherwise_max_q():
    torch.manual_seed(0)
    info = env_info("MinAtar/Breakout-v1")
    obs = (np.random.default_rng(0).random((6, *info.obs_shape)) > 0.7).astype(np.uint8)
    actions = np.array([0, 1, 2, 0, 1, 2])
    net = build_dqn_network(DQNConfig(hidden_sizes=(32,), dueling=True), info).eval()
    v, adv, how = value_decomposition(net, obs, actions)
    q = net(torch.from_numpy(obs)).detach().double().numpy()
    assert how == "dueling streams"
    np.testing.assert_allclose(v + adv, q[np.arange(6), actions], rtol=1e-5, atol=1e-6)  # Q = V + A − mean A
    plain = build_dqn_network(DQNConfig(hidden_sizes=(32,), dueling=False), info).eval()
    v, adv, how = value_decomposition(plain, obs, actions)
    q = plain(torch.from_numpy(obs)).detach().double().numpy()
    assert how == "max_a Q"
    np.testing.assert_allclose(v, q.max(axis=1), rtol=1e-6)
    np.testing.assert_allclose(adv, q[np.arange(6), actions] - q.max(axis=1), atol=1e-6)
    assert hidden_features(plain, obs).shape == (6, 32)
    assert first_conv(plain).weight.shape == (16, info.obs_shape[0], 3, 3)


def _html_images(page):
    return re.findall(r'<img src="([^"]+)"', open(page).read())


def test_inspect_of_a_minatar_agent_writes_every_view(tmp_path, capsys):
    run = write_network_run(tmp_path, "breakout")
    out = tmp_path / "inspect"
    assert parse(["inspect", run, "--episodes", "2", "--epsilon", "0.5", "--out", str(out),
                  "--saliency-frames", "2"]).run() == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["views"]) == {"values", "saliency", "tsne", "filters"}
    assert all(os.path.isfile(p) for p in result["views"].values())
    assert sorted(_html_images(result["html"])) == ["filters.png", "saliency.png", "tsne.png", "values.png"]
    for name in _html_images(result["html"]):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_inspect_of_an_mlp_agent_says_which_views_it_lacks(tmp_path, capsys):
    run = write_network_run(tmp_path, "cartpole", env_id="CartPole-v1", preset="cartpole")
    assert parse(["inspect", run, "--what", "values,saliency,filters", "--max-steps", "30"]).run() == 0
    captured = capsys.readouterr()
    assert "filters: not available: the network has no convolution layer" in captured.err
    assert "saliency: not available: the observations are not images" in captured.err
    page = open(os.path.join(run, "inspect", "inspect.html")).read()
    assert _html_images(os.path.join(run, "inspect", "inspect.html")) == ["values.png"]
    assert page.count('class="missing"') == 2


def test_inspect_rejects_unknown_views():
    with pytest.raises(SystemExit):
        parse(["inspect", "RUN", "--what", "values,colours"])


def test_values_of_a_c51_network_are_the_means_of_its_distributions():
    torch.manual_seed(0)
    info = env_info("MinAtar/Breakout-v1")
    obs = (np.random.default_rng(1).random((5, *info.obs_shape)) > 0.7).astype(np.uint8)
    actions = np.array([1, 0, 2, 1, 0])
    net = build_dqn_network(DQNConfig(hidden_sizes=(32,), dueling=True, distributional=True), info).eval()
    v, adv, how = value_decomposition(net, obs, actions)
    with torch.no_grad():
        means = (net.dist(torch.from_numpy(obs)) * net.support).sum(-1).double().numpy()  # [B, A]
    assert how == "max_a Q"
    np.testing.assert_allclose(v, means.max(axis=1), rtol=1e-5)
    np.testing.assert_allclose(adv, means[np.arange(5), actions] - means.max(axis=1), atol=1e-5)


def test_inspect_of_a_continuous_policy_uses_its_critic_for_values_and_tsne(tmp_path, capsys):
    import dataclasses
    import json

    import numpy as np
    import torch
    from safetensors.torch import save_file

    from apexrl.agents import get_agent
    from apexrl.config import to_dict
    from apexrl.envs import env_info
    from apexrl.viz.inspect import critic_values

    agent = get_agent("td3")
    config = agent.presets["pendulum"]()
    config = dataclasses.replace(config, run=dataclasses.replace(config.run, env_id="Pendulum-v1"))
    run = tmp_path / "pendulum"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"algo": "td3", "config": to_dict(config)}))
    torch.manual_seed(0)
    network = agent.build_network(config, env_info("Pendulum-v1"))
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, str(run / "model.safetensors"))
    assert parse(["inspect", str(run), "--max-steps", "40"]).run() == 0
    captured = capsys.readouterr()
    assert "saliency: not available: the observations are not images" in captured.err
    assert "filters: not available: the network has no convolution layer" in captured.err
    page = str(run / "inspect" / "inspect.html")
    assert sorted(_html_images(page)) == ["tsne.png", "values.png"]
    assert "V(s) = Q(s, π(s)) from the critic" in open(page).read()
    # V(s) is the first twin critic at the greedy action, computed by hand
    obs = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    with torch.no_grad():
        x = torch.from_numpy(obs)
        a = network.policy(x)
        by_hand = network.critic(x, a)[0]
    np.testing.assert_allclose(critic_values(network, obs), by_hand.double().numpy(), rtol=1e-6)


def test_saliency_of_a_policy_network_scores_its_output():
    import numpy as np
    import torch
    from torch import nn

    from apexrl.viz.inspect import plot_saliency
    from apexrl.viz.video import Episode

    class Corner(nn.Module):  # an action that reads only the top-left 10x10 pixels
        def forward(self, x):
            return torch.tanh(x[:, :, :10, :10].mean(dim=(1, 2, 3)))[:, None]

    obs = np.random.default_rng(0).integers(0, 255, (3, 4, 84, 84), dtype=np.uint8)
    episode = Episode(obs, np.zeros((3, 1), np.float32), np.zeros(3), np.zeros((3, 0), np.float32))
    view = plot_saliency(Corner(), episode, "/tmp/apexrl-policy-saliency.png", frames=1, output="π")
    assert view.path and "changes π most" in view.caption


def test_inspect_of_an_actor_critic_agent_plots_its_value_head(tmp_path, capsys):
    import json

    import numpy as np
    import torch
    from safetensors.torch import save_file

    from apexrl.agents import get_agent
    from apexrl.config import to_dict
    from apexrl.envs import env_info
    from apexrl.viz.inspect import critic_values

    agent = get_agent("ppo")
    config = agent.presets["cartpole"]()
    run = tmp_path / "ppo"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"algo": "ppo", "config": to_dict(config)}))
    torch.manual_seed(0)
    network = agent.build_network(config, env_info(config.run.env_id))
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, str(run / "model.safetensors"))
    assert parse(["inspect", str(run), "--max-steps", "30"]).run() == 0
    page = str(run / "inspect" / "inspect.html")
    assert sorted(_html_images(page)) == ["tsne.png", "values.png"]
    assert "value head, the baseline of its policy gradient" in open(page).read()
    obs = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    with torch.no_grad():
        by_hand = network.value_head(network.value_torso(torch.from_numpy(obs))).squeeze(-1)
    np.testing.assert_allclose(critic_values(network, obs), by_hand.double().numpy(), rtol=1e-6)
