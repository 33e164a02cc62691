"""Perturbation saliency (Greydanus et al. 2018)."""

import numpy as np
import pytest
import torch

from apexrl.viz.saliency import gaussian_mask, saliency_map


class OneRegion(torch.nn.Module):
    """Q-values that read only the pixels rows r0:r1, columns c0:c1 of every channel."""

    def __init__(self, r0, r1, c0, c1, actions=3):
        super().__init__()
        self.region = (slice(r0, r1), slice(c0, c1))
        self.w = torch.linspace(-1.0, 2.0, actions)

    def forward(self, x):
        s = x[:, :, self.region[0], self.region[1]].sum(dim=(1, 2, 3))
        return s[:, None] * self.w[None]


def test_saliency_of_a_network_that_reads_one_region_peaks_there():
    rng = np.random.default_rng(0)
    image = (rng.random((4, 84, 84)) > 0.5).astype(np.float32)  # texture everywhere, so blur changes it
    sal = saliency_map(OneRegion(50, 60, 20, 30), image)
    assert sal.shape == (84, 84) and (sal >= 0).all()
    peak = np.unravel_index(sal.argmax(), sal.shape)
    assert 45 <= peak[0] <= 65 and 15 <= peak[1] <= 35
    assert sal[:20, 60:].max() < 1e-3 * sal.max()  # far from the region nothing matters


def test_saliency_on_a_minatar_sized_grid_is_per_cell():
    image = np.zeros((4, 10, 10), np.float32)
    image[:, 2, 7] = 1.0
    sal = saliency_map(OneRegion(2, 3, 7, 8), image)
    assert sal.shape == (10, 10)
    assert np.unravel_index(sal.argmax(), sal.shape) == (2, 7)


def test_gaussian_mask_peaks_at_one_with_the_given_radius():
    m = gaussian_mask(21, 21, (10, 10), 5.0)
    assert m[10, 10] == 1.0
    assert m[10, 15] == pytest.approx(np.exp(-0.5))  # one radius away


def test_saliency_needs_an_image():
    with pytest.raises(ValueError, match=r"\[C, H, W\]"):
        saliency_map(lambda x: x, np.zeros(4))
