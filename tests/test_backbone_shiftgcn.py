"""Shift-GCN as released: the learnable temporal shift against a transcription of its CUDA kernels (forward and
backward), the whole model against a transcription of ``model/shift_gcn.py``, and the released weights."""
import pytest
import reference_shiftgcn as ref
import torch
from conftest import shared_data

import bharnet
from bharnet.models.backbones.shiftgcn import TemporalShift
from bharnet.models.convert import ConversionError, convert_shiftgcn_state_dict


@pytest.mark.parametrize("stride", [1, 2])
def test_temporal_shift_matches_the_cuda_kernels(stride):
    torch.manual_seed(stride)
    x = torch.randn(3, 6, 12, 7, dtype=torch.float64, requires_grad=True)  # the release's (N, C, T, V)
    xpos = torch.empty(6, dtype=torch.float64).uniform_(-1.5, 1.5)
    ypos = torch.empty(6, dtype=torch.float64).uniform_(-3, 3)
    ypos[0], xpos[1], ypos[2] = 2.0, 0.0, -20.0  # integer positions; a shift past the whole sequence
    xr, yr = xpos.clone().requires_grad_(), ypos.clone().requires_grad_()
    expected = ref.ShiftFunction.apply(x, xr, yr, stride)
    grad = torch.randn_like(expected)
    grad[:, 3] = 0  # a channel without gradient: the release steps it by 1e-4
    gx_in, gx_x, gx_y = torch.autograd.grad(expected, (x, xr, yr), grad)

    shift = TemporalShift(6, stride).double()
    shift.xpos.data.copy_(xpos)
    shift.ypos.data.copy_(ypos)
    mine = x.detach().transpose(2, 3).clone().requires_grad_()  # bharnet's (N, C, V, T)
    out = shift(mine)
    assert out.shape == (3, 6, 7, 12 // stride)
    torch.testing.assert_close(out.transpose(2, 3), expected, rtol=0, atol=1e-12)
    g_in, g_x, g_y = torch.autograd.grad(out, (mine, shift.xpos, shift.ypos), grad.transpose(2, 3))
    torch.testing.assert_close(g_in.transpose(2, 3), gx_in, rtol=0, atol=1e-12)
    torch.testing.assert_close(g_x, gx_x)  # zero: x never moves
    torch.testing.assert_close(g_y, gx_y)  # +-0.01, 1e-4 where the gradient is exactly zero
    assert set(g_y.abs().tolist()) == {0.01, 1e-4}

    true = TemporalShift(6, stride, position_gradient="true").double()
    true.load_state_dict(shift.state_dict())
    g_true = torch.autograd.grad(true(mine), true.ypos, grad.transpose(2, 3))[0]
    assert torch.equal(torch.sign(g_true[g_true != 0]) * 0.01, g_y[g_true != 0])
    with pytest.raises(ValueError, match="position_gradient"):
        TemporalShift(4, position_gradient="sign")


def _perturbed_reference(num_class=10):
    torch.manual_seed(0)
    model = ref.Model(num_class=num_class).double()
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
        if isinstance(m, ref.Shift_gcn):
            m.Feature_Mask.data.normal_(0, 0.5)
            m.Linear_bias.data.normal_(0, 0.1)
    return model


def _converted(reference, num_class=10, frames=16):
    model = bharnet.create_model("expert", backbone="shiftgcn", num_classes=num_class, num_frames=frames,
                                 num_persons=2).double()
    model.load_state_dict(convert_shiftgcn_state_dict(reference.state_dict()))
    return model


def test_model_matches_the_release_forward_and_backward():
    reference = _perturbed_reference()
    model = _converted(reference)
    x = torch.randn(2, 3, 16, 25, 2, dtype=torch.float64)
    reference.eval(), model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x).logits, reference(x), rtol=1e-10, atol=1e-10)
    reference.train(), model.train()
    labels = torch.tensor([1, 7])
    loss_ref = torch.nn.functional.cross_entropy(reference(x), labels)
    loss = torch.nn.functional.cross_entropy(model(x).logits, labels)
    torch.testing.assert_close(loss, loss_ref, rtol=1e-10, atol=1e-10)
    loss_ref.backward()
    loss.backward()
    pairs = {"blocks.4.tcn.shift_out.ypos": reference.l5.tcn1.shift_out.ypos,
             "blocks.4.tcn.shift_out.xpos": reference.l5.tcn1.shift_out.xpos,
             "blocks.2.gcn.weight": reference.l3.gcn1.Linear_weight,
             "blocks.7.tcn.temporal_linear.weight": reference.l8.tcn1.temporal_linear.weight,
             "blocks.0.gcn.feature_mask": reference.l1.gcn1.Feature_Mask}
    params = dict(model.backbone.named_parameters())
    for name, theirs in pairs.items():
        torch.testing.assert_close(params[name].grad.reshape(theirs.grad.shape), theirs.grad, rtol=1e-8, atol=1e-10,
                                   msg=name)


def test_conversion_errors_name_the_key():
    state = _perturbed_reference().state_dict()
    missing = {k: v for k, v in state.items() if k != "l3.tcn1.bn2.weight"}
    with pytest.raises(ConversionError, match=r"missing key 'l3.tcn1.bn2.weight'"):
        convert_shiftgcn_state_dict(missing)
    with pytest.raises(ConversionError, match="no place for, e.g. 'extra.weight'"):
        convert_shiftgcn_state_dict({**state, "extra.weight": torch.zeros(1)})
    wrong = dict(state)
    wrong["l2.gcn1.shift_in"] = state["l2.gcn1.shift_in"].flip(0)
    with pytest.raises(ConversionError, match="l2.gcn1.shift_in is not the released joint shift"):
        convert_shiftgcn_state_dict(wrong)
    model = bharnet.create_model("expert", backbone="shiftgcn", num_classes=11, num_frames=16, num_persons=2)
    with pytest.raises(RuntimeError, match="heads.0.fc.weight"):  # a class-count mismatch is a shape error
        model.load_state_dict(convert_shiftgcn_state_dict(state))
    with pytest.raises(ValueError, match="multiple of 4"):
        bharnet.create_model("expert", backbone="shiftgcn", num_frames=30)


RELEASED = [("ntu_ShiftGCN_joint_xsub.pt", 60), ("ntu_ShiftGCN_joint_xview.pt", 60),
            ("ntu120_ShiftGCN_joint_xsub.pt", 120), ("ntu120_ShiftGCN_joint_xsetup.pt", 120)]


@pytest.mark.parametrize("name,classes", RELEASED)
def test_released_weights_give_the_releases_logits(name, classes):
    root = shared_data()
    path = root / ".." / "weights" / "shift-gcn" / name if root else None
    if path is None or not path.is_file():
        pytest.skip(f"released Shift-GCN weights {name} not found (../shared/weights/shift-gcn)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    reference = ref.Model(num_class=classes)
    reference.load_state_dict(state)
    model = bharnet.create_model("expert", backbone="shiftgcn", num_classes=classes, num_frames=64, num_persons=2)
    model.load_state_dict(convert_shiftgcn_state_dict(state))
    reference.eval(), model.eval()
    x = torch.randn(1, 3, 64, 25, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = reference(x)
        torch.testing.assert_close(model(x).logits, expected, rtol=1e-5, atol=1e-4 * expected.abs().max().item())


def test_exports_to_onnx(tmp_path):
    pytest.importorskip("onnxruntime")
    from bharnet.deploy.export import export_onnx

    model = bharnet.create_model("expert", backbone="shiftgcn", num_classes=5, num_frames=16, base_channels=8,
                                 num_persons=2).eval()
    result = export_onnx(model, tmp_path / "sg.onnx", batch_size=2, check_batch=3)
    assert max(result.max_abs_diff.values()) < 1e-4 * max(result.logit_scale, 1.0)
