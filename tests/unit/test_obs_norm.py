"""RunningObsNorm: batch-merged statistics equal the whole data's; they travel with parameters."""

import numpy as np
import pytest
import torch

from apexrl.nets.normalize import RunningObsNorm
from apexrl.runtime.params import SharedParams


def test_merged_batches_give_the_mean_and_variance_of_all_data():
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(1000, 3)).astype(np.float32) * np.array([1, 10, 0.1], np.float32)
    norm = RunningObsNorm((3,))
    for chunk in np.array_split(data, [7, 100, 101, 640]):  # uneven batches, one of a single row
        norm.update(torch.from_numpy(chunk))
    # the 1e-4 prior count pulls the statistics by ~1e-7 relative: brute force over all rows
    np.testing.assert_allclose(norm.mean.numpy(), data.mean(axis=0), rtol=1e-4)
    np.testing.assert_allclose(norm.var.numpy(), data.var(axis=0), rtol=1e-4)
    assert float(norm.count) == pytest.approx(1000, abs=1e-3)
    y = norm(torch.from_numpy(data)).numpy()
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-3)
    np.testing.assert_allclose(y.std(axis=0), 1.0, rtol=1e-3)


def test_hand_computed_values_and_clipping():
    norm = RunningObsNorm((2,), clip=1.5)
    norm.update(torch.tensor([[0.0, 10.0], [2.0, 10.0]]))  # the batch: mean (1, 10), variance (1, 0)
    # merged with the prior (mean 0, variance 1, count c0 = 1e-4): Chan et al.'s formulas by hand
    c0, n = 1e-4, 2.0
    total = c0 + n
    mean = np.array([1.0, 10.0]) * n / total
    var = (np.array([1.0, 1.0]) * c0 + np.array([1.0, 0.0]) * n + np.array([1.0, 100.0]) * c0 * n / total) / total
    np.testing.assert_allclose(norm.mean.numpy(), mean, rtol=1e-6)
    np.testing.assert_allclose(norm.var.numpy(), var, rtol=1e-5)  # 0.00505 for the constant column
    out = norm(torch.tensor([[2.0, 10.0], [5.0, 10.0]]))
    expected = (np.array([[2.0, 10.0], [5.0, 10.0]]) - mean) / np.sqrt(var + 1e-8)
    np.testing.assert_allclose(out.numpy(), np.clip(expected, -1.5, 1.5), rtol=1e-3)  # float32 of 10 − 9.9995
    assert out[1, 0] == 1.5  # 4σ is clipped to 1.5


def test_statistics_are_published_with_the_parameters_but_never_trained():
    net = torch.nn.Sequential(RunningObsNorm((2,)), torch.nn.Linear(2, 1))
    net[0].update(torch.tensor([[4.0, 8.0], [6.0, 12.0]]))
    params = SharedParams(net)
    assert params.publish(net)
    actor = torch.nn.Sequential(RunningObsNorm((2,)), torch.nn.Linear(2, 1))
    params.pull(actor)
    np.testing.assert_allclose(actor[0].mean.numpy(), net[0].mean.numpy())
    np.testing.assert_allclose(actor[0].var.numpy(), net[0].var.numpy())
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    before = net[0].mean.detach().clone()
    net(torch.ones(3, 2)).sum().backward()
    opt.step()
    assert net[0].mean.grad is None and torch.equal(net[0].mean, before)
    assert set(net.state_dict()) >= {"0.mean", "0.var", "0.count"}  # checkpoints and exports carry them


def test_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r"observations of shape \(4, 3\) for a normalizer of \(2,\)"):
        RunningObsNorm((2,)).update(torch.zeros(4, 3))
