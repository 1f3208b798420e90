import pytest
import torch
from reference_degcn import ReferenceDeGCN
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import bharnet
from bharnet.profiler import PAPER_ROWS, paper_table


def test_paper_rows_within_one_percent():
    rows = paper_table()
    assert len(rows) == len(PAPER_ROWS)
    for r in rows:
        if not r["reproducible"]:
            continue
        assert abs(r["gflops"] / r["paper_gflops"] - 1) < 0.01, r
        assert abs(r["params_m"] / r["paper_params_m"] - 1) < 0.01, r


def test_single_expert_matches_thop_on_the_released_code_exactly():
    # the design notes' thop 0.1.1 measurement of the public DeGCN, one stream, 120 classes
    p = bharnet.profile_model(bharnet.create_model("expert"))
    assert round(p.paper_gmacs, 4) == 0.8308 and round(p.paper_params_m * 1e6) == 687_108
    assert round(p.params_m * 1e6) == 705_947


def test_paper_convention_agrees_with_thop_on_standard_layers():
    thop = pytest.importorskip("thop")
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, groups=1), nn.BatchNorm2d(16), nn.LeakyReLU(0.1),
                          nn.Conv2d(16, 32, (1, 5), groups=4), nn.Flatten(1), nn.LayerNorm(32 * 8 * 4),
                          nn.Linear(32 * 8 * 4, 10))
    x = torch.randn(1, 3, 8, 8)
    macs, params = thop.profile(model, inputs=(x,), verbose=False)
    ours = bharnet.profile_model(model, (x,))
    assert ours.paper_gmacs * 1e9 == pytest.approx(macs)
    assert ours.paper_params_m * 1e6 == pytest.approx(params)


def test_full_convention_equals_flop_counter_on_the_reference_implementation():
    ref = ReferenceDeGCN(num_classes=120).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        ref(torch.zeros(1, 3, 64, 25, 2))
    ours = bharnet.profile_model(bharnet.create_model("expert"))
    assert ours.full_gmacs * 1e9 == pytest.approx(counter.get_total_flops() / 2, rel=1e-9)
    assert ours.params_m * 1e6 == sum(p.numel() for p in ref.parameters())


def test_attention_costs_in_full_convention():
    body_only = bharnet.profile_model(bharnet.create_model("score_fusion"))
    exact = bharnet.profile_model(bharnet.create_model("cross_attention"))
    fast = bharnet.profile_model(bharnet.create_model("fast_attention", ffn_hidden=0))
    # same layers in the paper's convention; FAVOR+ is cheaper than 800x800 softmax in full
    assert exact.paper_gmacs == pytest.approx(fast.paper_gmacs)
    assert fast.full_gmacs < exact.full_gmacs
    assert exact.full_gmacs - body_only.full_gmacs > exact.paper_gmacs - body_only.paper_gmacs
