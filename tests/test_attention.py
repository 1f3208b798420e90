import math

import numpy as np
import pytest
import torch

from bharnet.models.attention import (
    BidirectionalCrossAttention,
    CrossAttention,
    FavorKernel,
    SoftmaxKernel,
    orthogonal_random_features,
)


def test_orthogonal_features_are_orthogonal_within_blocks():
    omega = orthogonal_random_features(150, 64, scaling=1)
    block = omega[:64] / math.sqrt(64)
    torch.testing.assert_close(block @ block.T, torch.eye(64), atol=1e-5, rtol=0)
    assert omega.shape == (150, 64)


def _favor_error(m: int, seeds: int = 8) -> float:
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 32, 16, generator=g) * 0.5 for _ in range(3))
    exact = SoftmaxKernel()(q, k, v)
    errs = []
    for s in range(seeds):
        torch.manual_seed(100 + s)
        kernel = FavorKernel(dim_head=16, num_features=m, redraw_interval=0).eval()
        errs.append((kernel(q, k, v) - exact).pow(2).mean().sqrt().item())
    return float(np.mean(errs))


def test_favor_converges_to_softmax_at_the_monte_carlo_rate():
    ms = [16, 64, 256, 1024, 4096]
    errors = [_favor_error(m) for m in ms]
    assert all(b < a for a, b in zip(errors, errors[1:])), errors  # more features, less error
    slope = np.polyfit(np.log(ms), np.log(errors), 1)[0]
    # an unbiased random-feature estimator: error ~ m^-1/2
    assert -0.75 < slope < -0.3, (slope, errors)


def test_favor_redraws_only_in_training():
    kernel = FavorKernel(dim_head=8, num_features=16, redraw_interval=2)
    q = k = v = torch.randn(1, 1, 4, 8)
    first = kernel.projection.clone()
    kernel.eval()
    for _ in range(5):
        kernel(q, k, v)
    assert torch.equal(kernel.projection, first)
    kernel.train()
    kernel(q, k, v)
    kernel(q, k, v)
    assert torch.equal(kernel.projection, first)  # two calls: not yet
    kernel(q, k, v)
    assert not torch.equal(kernel.projection, first)  # the third call redraws
    assert int(kernel.calls_since_redraw) == 1


@pytest.mark.parametrize("kernel", ["softmax", "favor"])
@pytest.mark.parametrize("residual,ffn", [(True, 0), (False, 32)])
def test_cross_attention_shapes_and_direction(kernel, residual, ffn):
    pair = BidirectionalCrossAttention(dim=32, heads=2, dim_head=8, kernel=kernel, residual=residual, ffn_hidden=ffn)
    body, hand = torch.randn(2, 10, 32), torch.randn(2, 7, 32)
    b2, h2 = pair(body, hand)
    assert b2.shape == body.shape and h2.shape == hand.shape
    # body's output depends on hand tokens (it queries them)
    b3, _ = pair(body, torch.randn(2, 7, 32))
    assert not torch.allclose(b2, b3)


def test_lucidrains_default_parameter_count():
    # 3 x 256x512 (no bias) + 512x256 + bias + two LayerNorms = the paper's per-direction module
    ca = CrossAttention(dim=256)
    assert sum(p.numel() for p in ca.parameters()) == 524_544 + 1_024


def test_favor_equals_the_explicit_feature_map():
    torch.manual_seed(3)
    kernel = FavorKernel(dim_head=16, num_features=40, redraw_interval=0, eps=1e-2)
    q, k, v = torch.randn(2, 3, 9, 16), torch.randn(2, 3, 11, 16), torch.randn(2, 3, 11, 5)
    m, omega = 40, kernel.projection

    def phi(x, dims):  # Performer's positive softmax-kernel features with its stabilising shift
        x = x * 16 ** -0.25
        proj = x @ omega.T
        shift = proj.amax(dims, keepdim=True)
        return m ** -0.5 * (torch.exp(proj - 0.5 * x.square().sum(-1, keepdim=True) - shift) + 1e-2)
    qf, kf = phi(q, (-1,)), phi(k, (-1, -2))
    expected = (qf @ (kf.transpose(-1, -2) @ v)) / (qf @ kf.sum(-2).unsqueeze(-1))
    torch.testing.assert_close(kernel(q, k, v), expected, rtol=1e-5, atol=1e-6)
