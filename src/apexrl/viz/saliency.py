"""Perturbation saliency (Greydanus et al. 2018, "Visualizing and Understanding Atari Agents", ICML).

For an image ``I`` ``[C, H, W]`` and a point ``(i, j)`` of a grid every ``stride`` pixels, the mask
``M`` is a Gaussian of standard deviation ``radius`` centred on ``(i, j)`` (peak 1), the perturbed
image ``I′ = I·(1 − M) + blur(I, σ)·M`` (the region is blurred, not blanked, so no new edges appear),
and the saliency of ``(i, j)`` is ``½‖Q(I) − Q(I′)‖²`` over the network's outputs (Q-values; the
paper used policy logits for actor-critic agents). The paper's settings for 84×84 Atari frames are
``radius = 5``, ``stride = 5``, ``σ = 3`` (:data:`ATARI_SETTINGS`); for MinAtar's 10×10 grid this
project uses ``1, 1, 1`` (:data:`SMALL_IMAGE_SETTINGS`), the same proportions at one cell. The mask
is applied to every channel (all 4 stacked frames at once).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from apexrl.viz import require

ATARI_SETTINGS = (5.0, 5, 3.0)
"""``(radius, stride, blur σ)`` in pixels for 84×84 frames (Greydanus et al. 2018)."""

SMALL_IMAGE_SETTINGS = (1.0, 1, 1.0)
"""``(radius, stride, blur σ)`` in pixels for images of at most 32×32 (MinAtar's 10×10 grid)."""


def settings_for(shape: tuple[int, ...]) -> tuple[float, int, float]:
    """:data:`ATARI_SETTINGS` for images larger than 32×32, else :data:`SMALL_IMAGE_SETTINGS`."""
    return SMALL_IMAGE_SETTINGS if max(shape[-2:]) <= 32 else ATARI_SETTINGS


def gaussian_mask(h: int, w: int, center: tuple[int, int], radius: float) -> np.ndarray:
    """``[h, w]`` float32: ``exp(−d²/(2·radius²))``, ``d`` the distance to ``center`` (peak 1)."""
    y, x = np.ogrid[:h, :w]
    d2 = (y - center[0]) ** 2 + (x - center[1]) ** 2
    return np.exp(-d2 / (2.0 * radius**2)).astype(np.float32)


def saliency_map(q_function: Callable[[torch.Tensor], torch.Tensor], image: np.ndarray, *,
                 radius: float | None = None, stride: int | None = None, blur_sigma: float | None = None,
                 batch: int = 128) -> np.ndarray:
    """The perturbation saliency of ``image`` for ``q_function``.

    Args:
        q_function: float ``[B, C, H, W]`` -> ``[B, A]`` (the network on prepared input).
        image: ``[C, H, W]`` float (prepared, as the network takes it).
        radius, stride, blur_sigma: see the module docstring (default: :func:`settings_for`).
        batch: perturbed images per forward pass.

    Returns: ``[H, W]`` float32, the grid's scores (``½‖Q(I) − Q(I′)‖²``) bilinearly interpolated to
    every pixel, ≥ 0.

    Raises:
        ValueError: ``image`` is not ``[C, H, W]``.
    """
    ndimage = require("scipy.ndimage", "apexrl inspect")
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3:
        raise ValueError(f"saliency needs an image [C, H, W], got shape {image.shape}")
    defaults = settings_for(image.shape)
    radius = defaults[0] if radius is None else radius
    stride = defaults[1] if stride is None else stride
    blur_sigma = defaults[2] if blur_sigma is None else blur_sigma
    c, h, w = image.shape
    blurred = np.stack([ndimage.gaussian_filter(ch, sigma=blur_sigma) for ch in image])
    rows, cols = np.arange(0, h, stride), np.arange(0, w, stride)
    points = [(i, j) for i in rows for j in cols]
    with torch.inference_mode():
        q0 = q_function(torch.from_numpy(image[None])).float()
        scores = []
        for start in range(0, len(points), batch):
            masks = np.stack([gaussian_mask(h, w, p, radius) for p in points[start:start + batch]])[:, None]
            perturbed = image[None] * (1.0 - masks) + blurred[None] * masks
            q = q_function(torch.from_numpy(perturbed.astype(np.float32))).float()
            scores.append((0.5 * ((q - q0) ** 2).sum(dim=1)).numpy())
    grid = np.concatenate(scores).reshape(len(rows), len(cols))
    if grid.shape == (h, w):
        return grid.astype(np.float32)
    ys = np.clip(np.arange(h) / stride, 0, len(rows) - 1)
    xs = np.clip(np.arange(w) / stride, 0, len(cols) - 1)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    return ndimage.map_coordinates(grid, [yy, xx], order=1).astype(np.float32)
