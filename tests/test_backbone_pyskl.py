"""pyskl's ST-GCN family (ST-GCN++ and the gesture model) against pyskl's own code, its test-time transforms, and
the released gesture model. The comparisons with pyskl's code need its files (BHARNET_PEER_ROOT, laid out by
../shared/tools/peers/get_peers.sh) and skip without them."""
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import peer_root, perturb_, shared_data

import bharnet
from bharnet.data.transforms import prenormalize_2d, uniform_sample_indices
from bharnet.models.convert import ConversionError, convert_pyskl_state_dict

GESTURE = dict(num_stages=6, inflate_stages=(6,), down_stages=(6,))


def _pyskl():
    root = peer_root()
    tools = Path(__file__).resolve().parents[2] / "shared" / "tools" / "peers"
    if root is None or not (root / "pyskl").is_dir() or not (tools / "bench_peers.py").is_file():
        pytest.skip("pyskl's code not laid out (set BHARNET_PEER_ROOT; ../shared/tools/peers/get_peers.sh)")
    sys.path.insert(0, str(tools))
    import bench_peers

    head = bench_peers._pyskl_import(str(root))
    stgcn = sys.modules.get("pyskl.models.gcns.stgcn") or bench_peers._import("pyskl.models.gcns.stgcn")
    return stgcn.STGCN, head.GCNHead


class _Recognizer(torch.nn.Module):
    def __init__(self, backbone, head):
        super().__init__()
        self.backbone, self.cls_head = backbone, head

    def forward(self, x):  # pyskl's (N, M, T, V, C)
        return self.cls_head(self.backbone(x))


def _ours(backbone, layout, classes, channels, persons, frames, **kw):
    return bharnet.create_model("expert", backbone=backbone, stream="hand" if layout == "mediapipe_hand21" else "body",
                                layout=layout, num_classes=classes, in_channels=channels, num_persons=persons,
                                num_frames=frames, backbone_kwargs=kw or None)


CONFIGS = {  # name: (pyskl STGCN kwargs, our backbone, our layout, C, M, T, backbone kwargs, classes)
    "stgcnpp_gesture": (dict(graph_cfg=dict(layout="handmp", mode="spatial"), in_channels=2, gcn_adaptive="init",
                             gcn_with_res=True, tcn_type="mstcn", num_stages=6, down_stages=[6], inflate_stages=[6]),
                        "stgcnpp", "mediapipe_hand21", 2, 1, 10, GESTURE, 40),
    "stgcnpp_ntu": (dict(graph_cfg=dict(layout="nturgb+d", mode="spatial"), gcn_adaptive="init", gcn_with_res=True,
                         tcn_type="mstcn"), "stgcnpp", "ntu_rgbd", 3, 2, 16, {}, 60),
    "stgcn_ntu": (dict(graph_cfg=dict(layout="nturgb+d", mode="spatial")), "pyskl_stgcn", "ntu_rgbd", 3, 2, 16, {}, 60),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_equals_pyskls_code(name):
    STGCN, GCNHead = _pyskl()
    pkw, backbone, layout, c, m, t, kw, classes = CONFIGS[name]
    torch.manual_seed(0)
    theirs = perturb_(_Recognizer(STGCN(**pkw), GCNHead(num_classes=classes, in_channels=128 if "gesture" in name
                                                         else 256))).double()
    ours = _ours(backbone, layout, classes, c, m, t, **kw).double()
    ours.load_state_dict(convert_pyskl_state_dict(theirs.state_dict()))
    x = torch.randn(3, m, t, 21 if "gesture" in name else 25, c, dtype=torch.float64)
    mine = x.permute(0, 4, 2, 3, 1).contiguous()
    for train in (False, True):
        theirs.train(train), ours.train(train)
        with torch.set_grad_enabled(train):
            torch.testing.assert_close(ours(mine).logits, theirs(x), rtol=1e-9, atol=1e-9)


def _hagrid():
    root = shared_data()
    path = root / ".." / "weights" / "pyskl" / "hagrid.pth" if root else None
    if path is None or not path.is_file():
        pytest.skip("pyskl's released gesture model not found (../shared/weights/pyskl/hagrid.pth)")
    return path


def test_released_gesture_model_equals_pyskl():
    STGCN, GCNHead = _pyskl()
    state = torch.load(_hagrid(), map_location="cpu", weights_only=True)
    pkw = CONFIGS["stgcnpp_gesture"][0]
    theirs = _Recognizer(STGCN(**pkw), GCNHead(num_classes=40, in_channels=128)).eval()
    theirs.load_state_dict(state)
    ours = _ours("stgcnpp", "mediapipe_hand21", 40, 2, 1, 10, **GESTURE).eval()
    ours.load_state_dict(convert_pyskl_state_dict(state))
    x = torch.randn(4, 1, 10, 21, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = theirs(x)
        torch.testing.assert_close(ours(x.permute(0, 4, 2, 3, 1).contiguous()).logits, expected, rtol=1e-5,
                                   atol=1e-5 * expected.abs().max().item())


def test_convert_the_released_gesture_model(tmp_path, capsys):
    from bharnet.cli import main
    from bharnet.deploy.predict import ModelSpec, Predictor, window_inputs

    out = tmp_path / "hagrid.pt"
    assert main(["convert", str(_hagrid()), "--from", "pyskl", "--out", str(out)]) == 0  # dataset from the name
    assert "hagrid classes" in capsys.readouterr().out
    predictor = Predictor(out)
    spec = predictor.spec
    assert spec.streams == {"hand": (2, 10, 21, 1)} and spec.class_names[31] == "OK" and spec.sampling == "uniform"
    # a detected right hand over 30 frames (the left never seen): one clip of 10 frames in [-1, 1]
    rng = np.random.default_rng(0)
    frames = 30
    landmarks = np.zeros((frames, 2, 21, 3), np.float32)
    landmarks[:, 1, :, :2] = rng.uniform(400, 600, (frames, 21, 2))
    detected = np.zeros((frames, 2), bool)
    detected[::2, 1] = True
    skel = {"landmarks": landmarks, "detected": detected, "image_size": np.array([1920, 1080])}
    x = window_inputs(skel, 0, frames, spec)["hand"]
    assert x.shape == (2, 10, 21, 1) and np.abs(x).max() <= 1.0 + 1e-6 and np.abs(x).max() > 0.5
    probs, _ = predictor({"hand": x[None]})
    assert probs.shape == (1, 40) and abs(probs.sum() - 1) < 1e-5
    none = window_inputs(dict(skel, detected=np.zeros_like(detected)), 0, frames, ModelSpec(**spec.__dict__))
    assert not none["hand"].any()


def test_pyskl_transforms():
    for n in (1, 4, 10, 15, 37, 200):
        inds = uniform_sample_indices(n, 10)
        assert inds.shape == (10,) and inds.min() >= 0 and inds.max() < n
        if n >= 10:
            assert (np.diff(inds) > 0).all()  # ordered, no repeats once the clip is long enough
    np.testing.assert_array_equal(uniform_sample_indices(4, 10), np.arange(10) % 4)  # short clips cycle
    np.testing.assert_array_equal(uniform_sample_indices(37, 10), uniform_sample_indices(37, 10))  # fixed seed
    kp = np.array([[[100.0, 50.0], [300.0, 250.0]]])
    np.testing.assert_allclose(prenormalize_2d(kp), [[[-1, -1], [1, 1]]])
    small = np.array([[[0.2, 0.3], [0.6, 0.5]]])  # normalised image coordinates: left alone, as pyskl does
    np.testing.assert_allclose(prenormalize_2d(small), small)
    with pytest.raises(ValueError, match="empty"):
        uniform_sample_indices(0, 10)


def test_pyskl_conversion_errors():
    with pytest.raises(ConversionError, match="neither the STGCN backbone nor its GCNHead"):
        convert_pyskl_state_dict({"neck.weight": torch.zeros(1)})
    with pytest.raises(ConversionError, match="unexpected backbone key"):
        convert_pyskl_state_dict({"backbone.pool.weight": torch.zeros(1)})
