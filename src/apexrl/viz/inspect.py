"""Views of what a trained network computes: ``apexrl inspect``.

* **values**: over one episode, V(s) and the advantage of the chosen action per step, with the
  rewards marked. For a dueling network (Wang et al. 2016) these are its value stream V(s) and its
  advantage stream A(s, a) − mean_a' A(s, a'); for any other Q network (and for C51, whose Q(s, a) is
  the mean of the return distribution, Bellemare et al. 2017) V(s) is max_a Q(s, a), the value of the
  greedy policy, and the advantage Q(s, a) − V(s) (≤ 0, 0 for the greedy action).
* **saliency**: perturbation saliency (:mod:`apexrl.viz.saliency`) on a few frames of the episode,
  overlaid on the environment's pictures; needs image observations.
* **tsne**: a t-SNE embedding (van der Maaten & Hinton 2008, scikit-learn's ``TSNE``) of the last
  shared hidden layer (the torso's output) over the visited states, coloured by V(s) (as above),
  with the frames of the four states at the map's edges shown beside their points (as Mnih et al.
  2015, Fig. 4).
* **filters**: the first convolution layer's weights as an image grid (one column per filter, one
  row per input channel); needs a convolution layer.

Each view that the network lacks a part for is skipped with a sentence saying why;
:func:`write_html` links the figures in ``inspect.html``. A policy network (the acting network of a
continuous-control agent: observation -> action) is scored by its output in the saliency view,
½‖π(I) − π(I′)‖² (Greydanus et al. 2018 score the policy's logits of actor-critic agents the same
way). Where its acting network carries a critic (the DPG agents and SAC: ``network.critic.q(s, a)``),
the values view plots V(s) = Q(s, π(s)) of the greedy action over the episode and the t-SNE map is
coloured by it; an actor-critic network (``ppo``, ``a2c``) gives V(s) from its value head; a policy without a critic gets the t-SNE map coloured by the episode step.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from apexrl.viz import pyplot, require
from apexrl.viz.saliency import saliency_map, settings_for
from apexrl.viz.video import Episode

VIEWS = ("values", "saliency", "tsne", "filters")
"""The views ``--what`` can choose."""


@dataclass(frozen=True)
class View:
    """One view's result: the figure written (``path``) or why there is none (``missing``), and a caption."""

    name: str
    path: str | None
    caption: str
    missing: str | None = None


def _prepared(network: nn.Module, obs: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(obs))
    prepare = getattr(network, "prepare", None)
    return (prepare(x) if prepare is not None else x.float()).contiguous()


def value_decomposition(network: nn.Module, observations: np.ndarray, actions: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, str]:
    """``(V [T], A(s_t, a_t) [T], how)`` float64 for states ``[T, *obs_shape]`` and the actions taken.

    ``how`` names the decomposition: ``"dueling streams"`` or ``"max_a Q"`` (see the module docstring).
    """
    with torch.inference_mode():
        x = _prepared(network, observations)
        head = getattr(network, "head", None)
        streams = head is not None and hasattr(head, "value") and hasattr(head, "advantage")
        dueling_q = streams and not hasattr(network, "support") and getattr(head, "value", None) is not None
        if dueling_q:
            features = network.torso(x)
            v = head.value(features)[:, 0]
            adv = head.advantage(features)
            adv = adv - adv.mean(dim=1, keepdim=True)
            chosen = adv[torch.arange(len(actions)), torch.from_numpy(actions)]
            return v.double().numpy(), chosen.double().numpy(), "dueling streams"
        q = network(x).double()
    v = q.max(dim=1).values
    chosen = q[torch.arange(len(actions)), torch.from_numpy(actions)] - v
    return v.numpy(), chosen.numpy(), "max_a Q"


def has_critic(network: nn.Module) -> bool:
    """Whether ``network`` is a policy with a critic: ``network.critic.q(s, a)`` (DPG agents, SAC)
    or a value head, ``network.heads(s) -> (policy output, V(s))`` (the actor-critic agents)."""
    return callable(getattr(getattr(network, "critic", None), "q", None)) or callable(getattr(network, "heads", None))


def critic_values(network: nn.Module, observations: np.ndarray) -> np.ndarray:
    """``V(s)`` ``[T]`` float64 for states ``[T, *obs_shape]``: the value head's output (actor-critic
    agents), or ``Q(s, π(s))`` of the greedy action ``π(s) = network(s)`` from the network's critic
    as ``critic.q`` gives it (``Q_1`` of twin critics, the mean of a distributional one)."""
    with torch.inference_mode():
        x = _prepared(network, observations)
        if callable(getattr(network, "heads", None)):
            return network.heads(x)[1].double().numpy()
        return network.critic.q(x, network(x)).double().numpy()


def plot_critic_values(network: nn.Module, episode: Episode, out: str) -> View:
    """The values view of a policy with a critic: ``Q(s, π(s))`` over one episode, rewards marked."""
    plt = pyplot("apexrl inspect")
    v = critic_values(network, episode.observations)
    value_head = callable(getattr(network, "heads", None))
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.plot(np.arange(episode.length), v, label="V(s) (the value head)" if value_head else
            "V(s) = Q(s, π(s)) (the critic at the greedy action)")
    _mark_rewards(ax, episode)
    ax.set_title(f"one episode, return {episode.episode_return:g}", fontsize=10)
    ax.set_xlabel("agent step")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    if value_head:
        return View("values", out, "V(s) from the network's value head, the baseline of its policy gradient")
    return View("values", out, "V(s) = Q(s, π(s)) from the critic carried by the acting network; a deterministic "
                               "greedy policy has no advantage to show (its action is π(s))")


def _mark_rewards(ax: Any, episode: Episode) -> bool:
    """Vertical lines at rewarded steps (green > 0, red < 0), unless most steps are rewarded;
    returns whether they were drawn."""
    rewarded = np.flatnonzero(episode.rewards)
    dense = len(rewarded) > episode.length // 2  # CartPole, Pendulum: a reward every step, nothing to mark
    for t in ([] if dense else rewarded):
        ax.axvline(t, color="green" if episode.rewards[t] > 0 else "red", alpha=0.35, linewidth=1)
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    return not dense


def hidden_features(network: nn.Module, observations: np.ndarray) -> np.ndarray | None:
    """The last shared hidden layer (the torso's output) ``[T, D]`` float32 (for a policy with a
    critic: the policy's torso), or ``None`` for a network without a ``torso``."""
    torso = getattr(network, "torso", None) or getattr(getattr(network, "policy", None), "torso", None)
    if torso is None:
        return None
    with torch.inference_mode():
        return torso(_prepared(network, observations)).float().numpy()


def tsne_embedding(features: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """A 2-D t-SNE embedding ``[N, 2]`` float of ``features`` ``[N, D]`` (one point per state;
    perplexity ``min(30, (N − 1) / 3)``, PCA initialisation).

    Raises:
        ValueError: fewer than 5 states.
        MissingVizDependency: scikit-learn is not installed.
    """
    manifold = require("sklearn.manifold", "apexrl inspect --what tsne")
    n = len(features)
    if n < 5:
        raise ValueError(f"t-SNE needs at least 5 states, got {n}")
    threadpoolctl = require("threadpoolctl", "apexrl inspect --what tsne")
    tsne = manifold.TSNE(n_components=2, perplexity=min(30.0, (n - 1) / 3.0), init="pca", random_state=seed)
    # one OpenMP thread: on a busy 2-core machine the default thread pool spins and made a
    # 40-point embedding take 18 s instead of 0.3 s (measured); 2,000 states take about 20 s
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        return tsne.fit_transform(np.asarray(features, dtype=np.float32))


def first_conv(network: nn.Module) -> nn.Conv2d | None:
    """The first ``nn.Conv2d`` of the network (in module order), or ``None``."""
    return next((m for m in network.modules() if isinstance(m, nn.Conv2d)), None)


# ---------------------------------------------------------------------------- figures
def plot_values(network: nn.Module, episode: Episode, out: str) -> View:
    """The values view of one episode, saved to ``out``."""
    plt = pyplot("apexrl inspect")
    v, adv, how = value_decomposition(network, episode.observations, episode.actions)
    steps = np.arange(episode.length)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
    ax1.plot(steps, v, label="V(s)" + (" (value stream)" if how == "dueling streams" else " = max_a Q(s, a)"))
    ax1.plot(steps, episode.q_values[steps, episode.actions], alpha=0.6, label="Q(s, chosen action)")
    ax2.plot(steps, adv, color="C2", label="A(s, chosen action)" + (" (advantage stream, mean 0)"
                                                                    if how == "dueling streams" else " = Q − V"))
    marked = [_mark_rewards(ax, episode) for ax in (ax1, ax2)][0]
    marks = ("vertical lines: rewards (green > 0, red < 0)" if marked else "a reward on most steps, not marked")
    ax1.set_title(f"one episode, return {episode.episode_return:g}; {marks}", fontsize=10)
    ax2.set_xlabel("agent step")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    caption = ("V(s) and the chosen action's advantage from the dueling streams" if how == "dueling streams" else
               "the network has no dueling value stream: V(s) is max_a Q(s, a) and the advantage Q(s, a) − V(s)"
               + (" (Q is the mean of the C51 return distribution)" if hasattr(network, "support") else ""))
    return View("values", out, caption)


def _resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    ndimage = require("scipy.ndimage", "apexrl inspect")
    return ndimage.zoom(image, (shape[0] / image.shape[0], shape[1] / image.shape[1]), order=1)


def plot_saliency(network: nn.Module, episode: Episode, out: str, *, frames: int = 4, output: str = "Q") -> View:
    """Saliency maps of ``frames`` states evenly spaced over the episode, overlaid on its pictures;
    ``output`` names what the network computes (``"Q"``, ``"π"``) in the title and caption."""
    if episode.observations.ndim != 4:
        return View("saliency", None, "", f"the observations are not images (shape "
                    f"{tuple(episode.observations.shape[1:])}): perturbation saliency needs [C, H, W] frames")
    plt = pyplot("apexrl inspect")
    picks = np.unique(np.linspace(0, episode.length - 1, min(frames, episode.length)).round().astype(int))
    fig, axes = plt.subplots(1, len(picks), figsize=(3.2 * len(picks), 3.8), squeeze=False)
    radius, stride, sigma = settings_for(episode.observations.shape)
    for ax, t in zip(axes[0], picks):
        image = _prepared(network, episode.observations[t:t + 1])[0].contiguous().numpy()
        sal = saliency_map(network, image)
        picture = episode.frames[t] if len(episode.frames) else np.repeat(image[-1][..., None], 3, axis=2)
        sal = _resize(sal, picture.shape[:2])
        ax.imshow(picture)
        ax.imshow(sal / max(float(sal.max()), 1e-12), cmap="jet", alpha=0.45)
        action = episode.actions[t]
        ax.set_title(f"step {t}, action {np.array2string(np.asarray(action), precision=2)}", fontsize=9)
        ax.axis("off")
    fig.suptitle(f"perturbation saliency ½‖{output}(I) − {output}(I′)‖² (mask radius {radius:g}, every {stride} px)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return View("saliency", out, f"perturbation saliency (Greydanus et al. 2018): Gaussian mask of radius {radius:g} "
                                 f"every {stride} pixels, blur σ {sigma:g}; red: changing that region changes {output} most")


def plot_tsne(network: nn.Module, episodes: Sequence[Episode], out: str, *, max_states: int = 2000,
              seed: int = 0, thumbnails: int = 4, values: str = "q") -> View:
    """The t-SNE view over the states of ``episodes`` (at most ``max_states``, evenly subsampled),
    coloured by V(s): ``values="q"`` from Q-values, ``"critic"`` from :func:`critic_values`;
    ``"none"`` (a policy without a critic): by the episode step."""
    observations = np.concatenate([e.observations for e in episodes])
    actions = np.concatenate([e.actions for e in episodes])
    frames = [f for e in episodes for f in (e.frames if len(e.frames) else [None] * e.length)]
    keep = np.unique(np.linspace(0, len(observations) - 1, min(max_states, len(observations))).astype(int))
    features = hidden_features(network, observations[keep])
    if features is None:
        return View("tsne", None, "", "the network has no torso whose output is the last shared hidden layer")
    if len(keep) < 5:
        return View("tsne", None, "", f"only {len(keep)} states were visited; t-SNE needs at least 5 "
                    "(play more --episodes)")
    embedding = tsne_embedding(features, seed=seed)
    if values == "q":
        colour, how = value_decomposition(network, observations[keep], actions[keep])[::2]
        label = "V(s)" + (" (value stream)" if how == "dueling streams" else " = max_a Q")
    elif values == "critic":
        colour = critic_values(network, observations[keep])
        label = "V(s)" if callable(getattr(network, "heads", None)) else "V(s) = Q(s, π(s))"
    else:
        colour, label = np.concatenate([np.arange(e.length) for e in episodes])[keep], "episode step"
    plt = pyplot("apexrl inspect")
    offsetbox = require("matplotlib.offsetbox", "apexrl inspect")
    fig, ax = plt.subplots(figsize=(7.5, 6))
    points = ax.scatter(embedding[:, 0], embedding[:, 1], c=colour, cmap="viridis", s=8)
    fig.colorbar(points, ax=ax, label=label)
    if frames[0] is not None and thumbnails > 0:
        center = embedding.mean(axis=0)
        extremes = [embedding[:, 0].argmin(), embedding[:, 0].argmax(), embedding[:, 1].argmin(),
                    embedding[:, 1].argmax()]  # states at the edges of the map, far apart
        for i in list(dict.fromkeys(int(e) for e in extremes))[:thumbnails]:
            picture = frames[keep[i]]
            zoom = 48.0 / max(picture.shape[:2])
            direction = np.sign(embedding[i] - center)
            box = offsetbox.AnnotationBbox(offsetbox.OffsetImage(picture, zoom=zoom), embedding[i],
                                           xybox=tuple(-45.0 * direction), boxcoords="offset points", pad=0.2,
                                           arrowprops={"arrowstyle": "->", "color": "gray"})
            ax.add_artist(box)
    ax.set_title(f"t-SNE of the last hidden layer, {len(keep)} states")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return View("tsne", out, f"t-SNE of the torso's output ({features.shape[1]} units) over {len(keep)} visited "
                             f"states, coloured by {'V(s)' if values != 'none' else 'the episode step (the policy has no critic)'}")


def plot_filters(network: nn.Module, out: str) -> View:
    """The first convolution layer's filters as a grid (columns: filters, rows: input channels)."""
    conv = first_conv(network)
    if conv is None:
        return View("filters", None, "", "the network has no convolution layer (an MLP torso): no filters to show")
    w = conv.weight.detach().float().numpy()  # [O, I, kh, kw]
    o, i, kh, kw = w.shape
    grid = np.full((i * (kh + 1) - 1, o * (kw + 1) - 1), np.nan)
    for a in range(o):
        for b in range(i):
            grid[b * (kh + 1):b * (kh + 1) + kh, a * (kw + 1):a * (kw + 1) + kw] = w[a, b]
    plt = pyplot("apexrl inspect")
    scale = float(np.abs(w).max()) or 1.0
    width = min(3.0 + grid.shape[1] / 12.0, 14.0)
    fig, ax = plt.subplots(figsize=(width, 1.5 + width * grid.shape[0] / grid.shape[1]))
    image = ax.imshow(grid, cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.03)
    ax.set_xlabel(f"filter (of {o})")
    ax.set_ylabel(f"input channel (of {i})")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"first convolution: {o} filters of {kh}×{kw}")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return View("filters", out, f"weights of the first convolution layer ({o}×{i}×{kh}×{kw}; red > 0, blue < 0)")


def write_html(views: Sequence[View], out_dir: str, header: dict[str, Any]) -> str:
    """Write ``out_dir/inspect.html``: the header lines, then each view's figure (linked by its file
    name, so the folder can be moved) or the reason it is missing. Returns the path."""
    parts = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8"><title>apexrl inspect</title>',
             "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}img{max-width:100%;"
             "border:1px solid #ccc}.missing{color:#a40}</style></head><body>", "<h1>apexrl inspect</h1>", "<ul>"]
    parts += [f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>" for k, v in header.items()]
    parts.append("</ul>")
    for view in views:
        parts.append(f'<h2 id="{view.name}">{view.name}</h2>')
        if view.path is None:
            parts.append(f'<p class="missing">Not available: {html.escape(view.missing or "")}.</p>')
        else:
            name = os.path.basename(view.path)
            parts.append(f'<p>{html.escape(view.caption)}</p><a href="{name}"><img src="{name}" alt="{view.name}"></a>')
    parts.append("</body></html>")
    path = os.path.join(out_dir, "inspect.html")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")
    return path


def inspect_network(network: nn.Module, env_id: str, out_dir: str, *, what: Sequence[str] = VIEWS,
                    episodes: int = 1, epsilon: float = 0.001, seed: int = 12345, max_steps: int = 27_000,
                    env_kwargs: dict[str, Any] | None = None, tsne_states: int = 2000, saliency_frames: int = 4,
                    header: dict[str, Any] | None = None, agent: Any = None) -> tuple[list[View], str]:
    """Play ``episodes`` episodes (rendered) and write the chosen views and ``inspect.html`` to ``out_dir``.

    ``agent`` (:class:`apexrl.agents.base.Agent`): the run's agent. A Q network (the DQN family,
    ``action_kind "discrete"``, or ``agent=None``) gets every view; a policy network (any other
    agent: it plays through the agent's ``greedy_actions``) gets saliency of its output and, where
    it carries a critic, values and t-SNE from ``Q(s, π(s))`` (see the module docstring).

    Returns: ``(views, path of inspect.html)``.

    Raises:
        ValueError: an unknown view name.
        MissingVizDependency: a library of the viz extra is missing.
    """
    from apexrl.envs import make_env
    from apexrl.viz.video import play

    unknown = [w for w in what if w not in VIEWS]
    if unknown:
        raise ValueError(f"invalid what={','.join(what)!r} (--what): unknown {', '.join(unknown)}; choose from "
                         f"{','.join(VIEWS)}")
    q_network = agent is None or agent.action_kind == "discrete"
    values = "q" if q_network else "critic" if has_critic(network) else "none"
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.makedirs(out_dir, exist_ok=True)
    played = []
    rng = np.random.default_rng(seed)
    for k in range(episodes):
        env = make_env(env_id, seed=seed + k, training=False, render_mode="rgb_array", **(env_kwargs or {}))
        try:
            played.append(play(network, env, epsilon=epsilon, seed=seed + k, max_steps=max_steps, rng=rng,
                               agent=None if q_network else agent))
        finally:
            env.close()
    views = []
    for name in what:
        path = os.path.join(out_dir, f"{name}.png")
        if name == "values" and values == "q":
            views.append(plot_values(network, played[0], path))
        elif name == "values" and values == "critic":
            views.append(plot_critic_values(network, played[0], path))
        elif name == "values":
            views.append(View("values", None, "", f"the network of {agent.name} is a policy (observation -> "
                              "action) without Q-values or a critic to compute V(s) from"))
        elif name == "saliency":
            views.append(plot_saliency(network, played[0], path, frames=saliency_frames,
                                       output="Q" if q_network else "π"))  # π: an action or the policy's logits
        elif name == "tsne":
            views.append(plot_tsne(network, played, path, max_states=tsne_states, seed=seed, values=values))
        else:
            views.append(plot_filters(network, path))
    head = {**(header or {}), "env": env_id,
            "episodes": ", ".join(f"return {e.episode_return:g} in {e.length} steps" for e in played)}
    return views, write_html(views, out_dir, head)
