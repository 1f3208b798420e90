"""Our DeGCN expert computes what the released layer computes (outputs and gradients)."""
import pytest
import torch
from conftest import peer_tree, perturb_
from reference_degcn import ReferenceDeGCN

import bharnet
from bharnet.models.convert import convert_degcn_state_dict


def _ours_from(reference_state, num_classes):
    model = bharnet.create_model("expert", num_classes=num_classes)
    backbone, head = convert_degcn_state_dict(reference_state)
    model.backbone.load_state_dict(backbone)
    model.heads[0].fc.load_state_dict(head)
    return model


@pytest.mark.parametrize("train,dtype", [(False, torch.float32), (True, torch.float32), (True, torch.float64)])
def test_degcn_expert_equals_reference(train, dtype):
    ref = perturb_(ReferenceDeGCN(num_classes=60)).to(dtype)
    ours = _ours_from(ref.state_dict(), 60).to(dtype)
    ref.train(train)
    ours.train(train)
    x = torch.randn(3, 3, 64, 25, 2, dtype=dtype)
    out_ref, out = ref(x)[0], ours(x).logits
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(out, out_ref, rtol=tol, atol=tol * out_ref.abs().max().item())
    if train and dtype == torch.float64:  # gradients through ten training-mode BNs: compare in float64
        g = torch.randn_like(out)
        grads_ref = dict(zip((n for n, _ in ref.named_parameters()),
                             torch.autograd.grad(out_ref, list(ref.parameters()), g)))
        grads = torch.autograd.grad(out, list(ours.parameters()), g)
        mapped, _ = convert_degcn_state_dict(grads_ref)  # the same re-layout applies to gradients
        names = [n for n, _ in ours.named_parameters()]
        scale = max(g.abs().max().item() for g in grads)  # biases before a BN have ~0 gradient
        for name, grad in zip(names, grads):
            if name.startswith("backbones.0."):
                expected = mapped[name.removeprefix("backbones.0.")]
                torch.testing.assert_close(grad, expected, rtol=1e-7, atol=1e-9 * scale)


@pytest.mark.peers
def test_degcn_expert_equals_the_released_code():
    """Runs when BHARNET_PEER_ROOT points at a tree laid out by the peers' get_peers.sh."""
    import importlib

    with peer_tree("degcn"):  # Model imports its graph class by name
        official = importlib.import_module("model.degcn")
        ref = perturb_(official.Model(num_class=120, num_point=25, num_person=2, k=8, eta=4, num_stream=1,
                                      graph="graph.ntu_rgb_d.Graph", graph_args=dict(labeling_mode="spatial")))
    ours = _ours_from(ref.state_dict(), 120)
    for mode in (False, True):
        ref.train(mode)
        ours.train(mode)
        x = torch.randn(2, 3, 64, 25, 2)
        r = ref(x)[0]
        torch.testing.assert_close(ours(x).logits, r, rtol=1e-4, atol=1e-4 * r.abs().max().item())
