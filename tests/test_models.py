import inspect

import pytest
import torch
from conftest import perturb_

import bharnet
from bharnet.models.heads import fuse_logits

SMALL = dict(num_classes=7, base_channels=16, num_frames=16)
DUAL = ["score_fusion", "joint_training", "cross_attention", "fast_attention", "bharnet_p", "bharnet_e", "dual_stream"]


def _inputs(n=2, t=16):
    return torch.randn(n, 3, t, 25, 2), torch.randn(n, 3, t, 25, 2)


@pytest.mark.parametrize("backbone", ["degcn", "ctrgcn", "stgcn"])
@pytest.mark.parametrize("name", ["expert"] + DUAL)
def test_every_variant_and_backbone(name, backbone):
    model = bharnet.create_model(name, backbone=backbone, **SMALL)
    body, hand = _inputs()
    out = model(body) if name == "expert" else model(body, hand)
    assert out.logits.shape == (2, 7)
    assert all(v.shape == (2, 7) for v in out.branches.values())
    assert set(out.individual) <= set(out.branches)


@pytest.mark.parametrize("name", ["expert"] + DUAL)
def test_gradients_reach_every_trainable_parameter(name):
    model = perturb_(bharnet.create_model(name, **SMALL))  # alpha != 0, so CTR-GC's refinement is live
    model.train()
    body, hand = _inputs(3)
    out = model(body) if name == "expert" else model(body, hand)
    bharnet.BHaRNetLoss()(out, torch.tensor([0, 3, 6])).backward()
    dead = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.any())]
    assert not dead, dead


def test_branches_of_each_model():
    body, hand = _inputs()
    e = bharnet.create_model("bharnet_e", **SMALL)(body, hand)
    assert list(e.branches) == ["body_expert", "hand_expert", "body_interactive", "hand_interactive"]
    assert e.individual == ("body_interactive", "hand_interactive") and e.complementary and e.fusion == "sum"
    torch.testing.assert_close(e.logits, sum(e.branches.values()))
    j = bharnet.create_model("joint_training", **SMALL)(body, hand)
    torch.testing.assert_close(j.logits, (j.branches["body"] + j.branches["hand"]) / 2)
    assert j.complementary and not bharnet.create_model("score_fusion", **SMALL)(body, hand).complementary


def test_expert_only_equals_the_sum_of_the_expert_heads():
    model = perturb_(bharnet.create_model("bharnet_e", **SMALL)).eval()
    body, hand = _inputs()
    full = model(body, hand)
    model.expert_only = True
    light_out = model(body, hand)
    torch.testing.assert_close(light_out.logits, full.branches["body_expert"] + full.branches["hand_expert"])
    assert set(light_out.branches) == {"body_expert", "hand_expert"}
    light = model.light().eval()
    torch.testing.assert_close(light(body, hand).logits, light_out.logits)
    n_light = sum(p.numel() for p in light.parameters())
    assert n_light < sum(p.numel() for p in model.parameters())
    assert not any("cross" in n or "interactive" in n for n, _ in light.named_parameters())


def test_expert_only_model_counts_only_what_runs():
    model = bharnet.create_model("bharnet_e", expert_only=True)
    full = bharnet.create_model("bharnet_e")
    p_light, p_full = bharnet.profile_model(model), bharnet.profile_model(full)
    assert p_light.paper_gmacs < p_full.paper_gmacs and p_light.paper_params_m < p_full.paper_params_m


def test_noisy_or_fusion():
    a, b = torch.randn(4, 5) * 3, torch.randn(4, 5) * 3
    fused = fuse_logits([a, b], "noisy_or")
    expected = 1 - (1 - torch.sigmoid(a)) * (1 - torch.sigmoid(b))
    torch.testing.assert_close(torch.sigmoid(fused), expected)
    big = fuse_logits([torch.full((1, 2), 40.0), torch.full((1, 2), -40.0)], "noisy_or")
    assert torch.isfinite(big).all()
    model = bharnet.create_model("joint_training", fusion="noisy_or", **SMALL)
    out = model(*_inputs())
    assert out.fusion == "noisy_or"
    bharnet.BHaRNetLoss()(out, torch.tensor([1, 2])).backward()


def test_load_expert_is_one_call(tmp_path):
    body_expert = perturb_(bharnet.create_model("expert", stream="body", **SMALL))
    hand_expert = perturb_(bharnet.create_model("expert", stream="hand", **SMALL))
    path = bharnet.save_checkpoint(tmp_path / "hand.pt", hand_expert)
    model = bharnet.create_model("bharnet_e", **SMALL)
    model.load_expert(body_expert, "body")
    model.load_expert(path, "hand")
    for mine, theirs in ((model.body_backbone, body_expert.backbone), (model.hand_backbone, hand_expert.backbone)):
        for (n, a), (_, b) in zip(mine.state_dict().items(), theirs.state_dict().items()):
            assert torch.equal(a, b), n
    assert torch.equal(model.body_expert.fc.weight, body_expert.heads[0].fc.weight)
    assert torch.equal(model.hand_expert.fc.weight, hand_expert.heads[0].fc.weight)
    # an expert alone, evaluated on the same input, equals that branch of the dual model
    model.eval()
    body_expert.eval()
    body, hand = _inputs()
    torch.testing.assert_close(model(body, hand).branches["body_expert"], body_expert(body).logits)
    with pytest.raises(ValueError, match="stream"):
        model.load_expert(body_expert, "feet")


def test_load_expert_from_a_trained_dual_stream(tmp_path):
    """The demo's recipe: experts trained together as score fusion, then BHaRNet-E fine-tuned from them."""
    fused = perturb_(bharnet.create_model("score_fusion", **SMALL))
    path = bharnet.save_checkpoint(tmp_path / "fused.pt", fused)
    model = bharnet.create_model("bharnet_e", **SMALL)
    for stream in ("body", "hand"):
        model.load_expert(path, stream)
    model.eval()
    fused.eval()
    body, hand = _inputs()
    out, ref = model(body, hand), fused(body, hand)
    torch.testing.assert_close(out.branches["body_expert"], ref.branches["body"])
    torch.testing.assert_close(out.branches["hand_expert"], ref.branches["hand"])
    with pytest.raises(ValueError, match="no hand expert weights"):
        model.load_expert({"unrelated.weight": torch.zeros(1)}, "hand")


def test_two_trunk_degcn_baseline():
    model = bharnet.create_model("expert", num_trunks=2, **SMALL)
    out = model(torch.randn(2, 3, 16, 25, 2))
    assert len(out.branches) == 2 and out.individual == tuple(out.branches)
    torch.testing.assert_close(out.logits, sum(out.branches.values()))


def test_create_model_errors():
    with pytest.raises(ValueError, match="unknown model"):
        bharnet.create_model("bharnet_x")
    with pytest.raises(TypeError, match="unknown argument.*num_clases"):
        bharnet.create_model("bharnet_e", num_clases=3)
    with pytest.raises(ValueError, match="fusion"):
        bharnet.create_model("joint_training", fusion="max", **SMALL)


def test_models_are_registered_beside_their_classes():
    from bharnet.models import model_info
    from bharnet.models.registry import BackboneOptions, register_dual_model

    assert model_info("bharnet_e").source == "bharnet.models.bharnet:BHaRNetE"
    assert model_info("score_fusion").source == "bharnet.models.bharnet:DualStream"
    assert model_info("bharnet_m").source == "bharnet.models.rgb:bharnet_m"
    # a registered variant keeps its overrides, and every dual model takes the shared backbone options
    assert inspect.signature(model_info("score_fusion").builder).parameters["complementary"].default is False
    shared = {f for f in BackboneOptions.__dataclass_fields__}
    for name in bharnet.list_models():
        if model_info(name).dual and name != "bharnet_m":
            assert shared <= set(inspect.signature(model_info(name).builder).parameters), name
    with pytest.raises(ValueError, match="'bharnet_e' registered twice"):
        register_dual_model("bharnet_e", "again")(bharnet.models.BHaRNetE)
    with pytest.raises(TypeError, match="no argument"):
        register_dual_model("bharnet_e_typo", "a misspelt default", fusoin="sum")(bharnet.models.BHaRNetE)
    assert "bharnet_e_typo" not in bharnet.list_models()


@pytest.mark.parametrize("name", DUAL)
def test_body_and_hand_batches_must_match(name):
    """Attention and fusion would otherwise broadcast one hand sample over every body sample."""
    model = bharnet.create_model(name, **SMALL)
    body, hand = _inputs(2)
    with pytest.raises(ValueError, match="N=2 body and N=1 hand"):
        model(body, hand[:1])


def test_wrong_inputs_get_errors_naming_the_stream_and_the_fix():
    model = bharnet.create_model("bharnet_e", **SMALL)
    body, hand = _inputs()
    with pytest.raises(TypeError, match=r"ntu_rgbd backbone: input dtype torch.float64 .* x.to\(torch.float32\)"):
        model(body.double(), hand)
    with pytest.raises(TypeError, match=r"mediapipe_hand backbone: expected a torch.Tensor .* torch.from_numpy"):
        model(body, hand.numpy())
    with pytest.raises(ValueError, match=r"mediapipe_hand backbone: .* V=25 \(21 joints padded with 4 zero joints\)"):
        model(body, hand[:, :, :, :21])
    with pytest.raises(ValueError, match=r"ntu_rgbd backbone: .*M=2"):
        model(body[..., :1], hand)


def test_bharnet_e_without_complementary_loss_trains_every_head():
    model = bharnet.create_model("bharnet_e", complementary=False, **SMALL).train()
    out = model(*_inputs(3))
    assert not out.complementary and out.individual == tuple(out.branches)
    bharnet.BHaRNetLoss()(out, torch.tensor([0, 3, 6])).backward()
    for head in (model.body_expert, model.hand_expert, model.body_interactive, model.hand_interactive):
        assert head.fc.weight.grad is not None and head.fc.weight.grad.any()


def test_load_expert_takes_the_right_classifier_or_says_it_did_not(tmp_path):
    source = perturb_(bharnet.create_model("bharnet_e", **SMALL))
    fused = bharnet.create_model("dual_stream", **SMALL)
    fused.load_expert(source, "body")  # BHaRNet-E's expert head, not an attended-feature head
    assert torch.equal(fused.body_head.fc.weight, source.body_expert.fc.weight)
    model = bharnet.create_model("bharnet_e", **SMALL)
    initial = model.hand_expert.fc.weight.clone()
    attention = perturb_(bharnet.create_model("bharnet_p", **SMALL))
    with pytest.warns(UserWarning, match="no standalone hand classifier"):
        model.load_expert(attention, "hand")
    assert torch.equal(model.hand_expert.fc.weight, initial)
    assert torch.equal(model.hand_backbone.input_norm.bn.weight, attention.hand_backbone.input_norm.bn.weight)
    with pytest.raises(ValueError, match="two-trunk"):
        model.load_expert(bharnet.create_model("expert", num_trunks=2, **SMALL), "body")


@pytest.mark.parametrize("fusion", ["sum", "mean"])
def test_bharnet_e_complementary_readings(fusion):
    """Each reading puts the complementary CE on the logits it names; the prediction stays the four-branch fusion."""
    labels = torch.tensor([0, 3, 6])
    inputs = _inputs(3)
    ce = bharnet.BHaRNetLoss()
    outputs = {}
    for reading in ("all", "experts", "experts+all"):
        torch.manual_seed(0)
        model = bharnet.create_model("bharnet_e", complementary_on=reading, fusion=fusion, **SMALL).train()
        torch.manual_seed(1)
        outputs[reading] = out = model(*inputs)
        br = out.branches
        reduce = (lambda xs: torch.stack(xs).sum(0)) if fusion == "sum" else (lambda xs: torch.stack(xs).mean(0))
        experts = reduce([br["body_expert"], br["hand_expert"]])
        assert out.individual == ("body_interactive", "hand_interactive")
        torch.testing.assert_close(out.logits, reduce(list(br.values())))
        terms = ce.components(out, labels)
        interactive = terms["ce/body_interactive"] + terms["ce/hand_interactive"]
        smooth = dict(target=labels, label_smoothing=0.1)
        if reading == "all":
            expected = {"cpl": torch.nn.functional.cross_entropy(out.logits, **smooth)}
        elif reading == "experts":
            expected = {"cpl": torch.nn.functional.cross_entropy(experts, **smooth)}
        else:
            expected = {"cpl/experts": torch.nn.functional.cross_entropy(experts, **smooth),
                        "cpl/all": torch.nn.functional.cross_entropy(out.logits, **smooth)}
        assert set(terms) == {"ce/body_interactive", "ce/hand_interactive", "total", *expected}
        for name, value in expected.items():
            torch.testing.assert_close(terms[name], value)
        torch.testing.assert_close(terms["total"], interactive + sum(expected.values()))
        if reading != "all":  # the expert heads get the expert-pair term's gradient
            model.zero_grad()
            terms["total"].backward()
            assert model.body_expert.fc.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="complementary_on must be one of"):
        bharnet.create_model("bharnet_e", complementary_on="expert", **SMALL)


def test_one_input_spec_feeds_every_model():
    """input_spec() is what training, the profiler, export and predict read: its names are the feeder's keys,
    its order the call's, its shapes the backbones'."""
    from bharnet.models.inputs import batch_inputs, example_inputs, input_spec

    expert = bharnet.create_model("expert", stream="hand", **SMALL)
    assert input_spec(expert) == {"hand": (3, 16, 25, 2)}
    dual = bharnet.create_model("bharnet_e", num_persons=1, **SMALL)
    assert input_spec(dual) == {"body": (3, 16, 25, 1), "hand": (3, 16, 25, 2)}
    batch = {"label": torch.zeros(2), "hand": torch.randn(2, 3, 16, 25, 2), "body": torch.randn(2, 3, 16, 25, 1)}
    body, hand = batch_inputs(dual, batch)
    assert body is batch["body"] and hand is batch["hand"]
    assert [x.shape for x in example_inputs(dual, 4)] == [(4, 3, 16, 25, 1), (4, 3, 16, 25, 2)]
    assert dual(*example_inputs(dual, 2, torch.Generator().manual_seed(0))).logits.shape == (2, 7)
    with pytest.raises(TypeError, match="Linear is not a bharnet model"):
        input_spec(torch.nn.Linear(2, 2))
