import pytest
import torch

from bharnet.models import create_backbone, list_backbones
from bharnet.models.layers import DeformableTemporalConv

# per-block true parameter counts of the released DeGCN (design notes §2.1)
DEGCN_BLOCKS = [9627, 13132, 13132, 13132, 40716, 45116, 45116, 152252, 171292, 171292]


def test_degcn_block_parameter_counts_match_the_release():
    b = create_backbone("degcn")
    assert [sum(p.numel() for p in blk.parameters()) for blk in b.blocks] == DEGCN_BLOCKS
    assert sum(p.numel() for p in b.parameters()) + 256 * 120 + 120 == 705_947


@pytest.mark.parametrize("name,total", [("ctrgcn", 1_462_092), ("stgcn", 3_114_252)])
def test_reference_backbone_parameter_counts(name, total):
    b = create_backbone(name)
    assert sum(p.numel() for p in b.parameters()) + 256 * 120 + 120 == total


@pytest.mark.parametrize("name", ["degcn", "ctrgcn", "stgcn"])
@pytest.mark.parametrize("layout,persons", [("ntu_rgbd", 2), ("mediapipe_hand", 2), ("nw_ucla", 1)])
def test_backbone_shapes(name, layout, persons):
    b = create_backbone(name, layout=layout, num_persons=persons, num_frames=32, base_channels=16)
    v = b.layout.num_joints
    y = b(torch.randn(3, 3, 32, v, persons))
    assert y.shape == (3, persons, 64, 8, v)  # (N, M, C_out, T_out, V)


@pytest.mark.parametrize("name", ["degcn", "ctrgcn", "stgcn"])
def test_other_lengths_work(name):
    b = create_backbone(name, num_frames=50, base_channels=16)
    assert b(torch.randn(2, 3, 50, 25, 2)).shape == (2, 2, 64, 13, 25)


def test_input_mismatch_is_a_clear_error():
    b = create_backbone("degcn", base_channels=16)
    with pytest.raises(ValueError, match=r"V=25"):
        b(torch.randn(2, 3, 64, 21, 2))
    with pytest.raises(ValueError, match=r"\(N, C, T, V, M\)"):
        b(torch.randn(2, 3, 64, 25))
    with pytest.raises(ValueError, match="unknown backbone"):
        create_backbone("resnet")


def _gather_detgc(x, offsets, weight, bias, stride):
    """DeTGC as released (time-second layout), for a (N, C, T, V) input."""
    n, c, t, v = x.shape
    eta = offsets.numel()
    pos = (torch.arange(0, t, stride, dtype=x.dtype)[None] + offsets[:, None]).reshape(1, 1, -1, 1)
    lo = pos.detach().floor()
    i1 = lo.clamp(0, t - 1).long().expand(n, c, -1, v)
    i2 = (lo + 1).clamp(0, t - 1).long().expand(n, c, -1, v)
    a = lo + 1 - pos
    y = (x.gather(2, i1) * a + x.gather(2, i2) * (1 - a)).view(n, c, eta, -1, v)
    return torch.nn.functional.conv3d(y, weight[..., None, None], bias).squeeze(2)


@pytest.mark.parametrize("stride,dilation,t", [(1, 1, 16), (1, 2, 16), (2, 2, 16), (2, 1, 15)])
@pytest.mark.parametrize("offsets", [None, [-3.7, -0.2, 0.9, 5.4], [0.5, 1.5, 2.0, 2.25], [-40.0, -1.5, 0.3, 1e6]])
def test_deformable_temporal_conv_equals_the_gather_formulation(stride, dilation, t, offsets):
    layer = DeformableTemporalConv(4, 6, dilation=dilation, stride=stride, num_frames=t)
    if offsets is not None:
        with torch.no_grad():
            layer.offsets.copy_(torch.tensor(offsets))
    layer.bn.eval()
    x = torch.randn(2, 4, 3, t, requires_grad=True)  # (B, C, V, T)
    ours = layer(x)
    xr = x.detach().transpose(2, 3).requires_grad_()
    ref = layer.bn(_gather_detgc(xr, layer.offsets, layer.weight, layer.bias, stride).transpose(2, 3))
    assert ours.shape == ref.shape == (2, 6, 3, (t - 1) // stride + 1)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(ours)
    grads = torch.autograd.grad(ours, [x, layer.offsets, layer.weight], g)
    ref_grads = torch.autograd.grad(ref, [xr, layer.offsets, layer.weight], g)
    torch.testing.assert_close(grads[0], ref_grads[0].transpose(2, 3), rtol=1e-4, atol=1e-5)
    for a, b in zip(grads[1:], ref_grads[1:]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_chunked_inference_gives_the_same_result():
    b = create_backbone("degcn", base_channels=16, num_frames=16).eval()
    x = torch.randn(7, 3, 16, 25, 2)
    with torch.no_grad():
        chunked = b(x)
        b.eval_chunk = 0
        whole = b(x)
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("groups,batch,chunk", [(4, 7, 3), (1, 5, 2), (4, 4, 1)])
@pytest.mark.parametrize("folded", [False, True])
def test_chunked_training_graph_conv_equals_the_unchunked(groups, batch, chunk, folded):
    """The training path that recomputes the value tensors chunk by chunk gives the values and
    gradients of the plain batched products (also with a folded norm's affine map)."""
    from bharnet.graphs import get_layout
    from bharnet.models.layers import TopologyRefinedGraphConv

    torch.manual_seed(0)
    A = torch.from_numpy(get_layout("ntu_rgbd").adjacency("spatial")).float()
    layer = TopologyRefinedGraphConv(16, 24, A, groups=groups, train_chunk=chunk)
    with torch.no_grad():
        layer.alpha.fill_(0.7)
        for conv in (layer.conv_v, layer.conv_w):
            conv.bias.normal_()
    x = torch.randn(batch, 16, 25, 9, requires_grad=True)
    affine = (torch.rand(24, requires_grad=True), torch.randn(24, requires_grad=True)) if folded else None
    inputs = [x, *layer.parameters(), *(affine or ())]
    y = layer(x, affine)
    assert "ChunkedValueAggregation" in type(y.grad_fn).__name__
    g = torch.randn_like(y)
    grads = torch.autograd.grad(y, inputs, g)
    layer.train_chunk = 0
    ref = layer(x, affine)
    assert "ChunkedValueAggregation" not in type(ref.grad_fn).__name__
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)
    for got, want in zip(grads, torch.autograd.grad(ref, inputs, g)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    with torch.no_grad():  # inference never takes the chunked training path
        assert layer(x).grad_fn is None


def test_graph_conv_rejects_a_negative_chunk():
    from bharnet.graphs import get_layout
    from bharnet.models.layers import TopologyRefinedGraphConv

    A = torch.from_numpy(get_layout("ntu_rgbd").adjacency("spatial")).float()
    with pytest.raises(ValueError, match="train_chunk"):
        TopologyRefinedGraphConv(16, 16, A, train_chunk=-1)


@pytest.mark.parametrize("cin,cout", [(3, 8), (8, 8), (8, 4)])
@pytest.mark.parametrize("adjacency", ["learnable", "importance", "fixed"])
def test_static_graph_conv_equals_projection_then_aggregation(cin, cout, adjacency):
    """Whichever order the layer picks, it computes sum_k A_k (W_k x + b_k), values and gradients."""
    from bharnet.graphs import get_layout
    from bharnet.models.layers import StaticGraphConv

    torch.manual_seed(0)
    A = torch.from_numpy(get_layout("ntu_rgbd").adjacency("spatial")).float()
    layer = StaticGraphConv(cin, cout, A, adjacency=adjacency)
    with torch.no_grad():
        layer.conv.bias.normal_()
        if adjacency == "importance":
            layer.importance.uniform_(0.5, 1.5)
    x = torch.randn(3, cin, 25, 7, requires_grad=True)
    y = layer(x)
    k = A.shape[0]
    h = torch.nn.functional.conv2d(x, layer.conv.weight, layer.conv.bias).view(3, cout, k, 25, 7)
    ref = torch.einsum("kvu,bckut->bcvt", layer.subsets(), h)
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(y)
    grads = torch.autograd.grad(y, [x, *layer.parameters()], g)
    grads_ref = torch.autograd.grad(ref, [x, *layer.parameters()], g)
    for got, want in zip(grads, grads_ref):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("t", [1, 2, 7, 8])
@pytest.mark.parametrize("ties", [False, True])
def test_temporal_max_pool_equals_max_pool2d(stride, t, ties):
    from bharnet.models.layers import temporal_max_pool

    torch.manual_seed(t)
    base = torch.randint(0, 3, (2, 12, 5, t)).float() if ties else torch.randn(2, 12, 5, t)
    x = base[:, 4:].clone().requires_grad_()  # a channel slice, as in the temporal module
    x_ref = base[:, 4:].clone().requires_grad_()
    y = temporal_max_pool(x, stride)
    y_ref = torch.nn.functional.max_pool2d(x_ref, (1, 3), stride=(1, stride), padding=(0, 1))
    assert torch.equal(y, y_ref)
    g = torch.randn_like(y)
    y.backward(g)
    y_ref.backward(g)
    # the same frames receive the same terms; only the order of summation differs
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-6, atol=1e-6)
    with torch.no_grad():
        assert torch.equal(temporal_max_pool(x, stride), y_ref)


@pytest.mark.parametrize("name", ["degcn", "ctrgcn", "stgcn"])
def test_folded_batch_norms_give_the_eval_output(name):
    """Eval mode folds the norms into the layers before them; the output is the unfolded one."""
    from conftest import perturb_

    from bharnet.models.layers import batch_norm_folding

    backbone = perturb_(create_backbone(name, base_channels=16, num_frames=16)).eval()
    x = torch.randn(2, 3, 16, 25, 2)
    with torch.no_grad():
        folded = backbone(x)
        with batch_norm_folding(False):
            plain = backbone(x)
    torch.testing.assert_close(folded, plain, rtol=1e-4, atol=1e-4 * plain.abs().max().item())
    assert not torch.equal(folded, plain)  # the folded path ran (rounding differs)


def test_a_backbone_name_registered_twice_is_an_error():
    from bharnet.models.backbones import register_backbone

    with pytest.raises(ValueError, match="'degcn' registered twice"):
        register_backbone("degcn")(lambda **kw: None)
    assert "degcn" in list_backbones()
