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
    from bharnet.deploy.inputs import ModelSpec, window_inputs
    from bharnet.deploy.predict import Predictor

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


def _as_pyskl(state):
    """Our pyskl-family state dict under pyskl's names (the inverse of convert_pyskl_state_dict): a stand-in for a
    released file where pyskl's code is absent."""
    out = {}
    for key, value in state.items():
        if key.startswith("heads.0.fc."):
            out["cls_head.fc_cls." + key.removeprefix("heads.0.fc.")] = value
            continue
        name = key.removeprefix("backbones.0.")
        if name.startswith("input_norm.bn."):
            name = "data_bn." + name.removeprefix("input_norm.bn.")
        else:
            block, rest = name.removeprefix("blocks.").split(".", 1)
            if rest.startswith("residual."):
                rest = rest.replace("residual.0.", "residual.conv.").replace("residual.1.", "residual.bn.")
            name = f"gcn.{block}.{rest}"
        if value.dim() == 4 and value.shape[2] == 1 and value.shape[3] > 1:
            value = value.transpose(2, 3).contiguous()
        out["backbone." + name] = value
    return out


NTU_ARCHS = {  # our backbone, its kwargs, what detection must find
    "stgcn": ("pyskl_stgcn", {}, "pyskl_stgcn"),
    "stgcnpp": ("stgcnpp", {}, "stgcnpp"),
    "stgcnpp_mvc_short": ("stgcnpp", dict(num_stages=6, inflate_stages=(4,), down_stages=(4, 6), data_bn="MVC"),
                          "stgcnpp"),
}


@pytest.mark.parametrize("name", list(NTU_ARCHS))
def test_convert_pyskl_ntu_checkpoints_detects_the_architecture(tmp_path, name):
    from bharnet.models.pretrained import convert_release, detect_pyskl_architecture

    backbone, kw, detected = NTU_ARCHS[name]
    torch.manual_seed(0)
    original = perturb_(_ours(backbone, "ntu_rgbd", 60, 3, 2, 100, **kw)).eval()
    released = _as_pyskl(original.state_dict())
    arch = detect_pyskl_architecture(released)
    assert arch["backbone"] == detected and arch["layout"] == "ntu_rgbd" and arch["num_classes"] == 60
    path = tmp_path / "j.pth"
    torch.save({"meta": {"epoch": 16, "config": "model = dict(...)"}, "state_dict": released}, path)  # mmcv's form
    model = convert_release(path, "pyskl", "ntu60", tmp_path / "out.pt")
    extra = bharnet.load_checkpoint(tmp_path / "out.pt").checkpoint_extra
    assert extra["preprocessing"] == {"body_normalization": "pyskl", "sampling": "uniform"}
    assert extra["config"]["data"]["window"] == 100
    x = torch.randn(2, 3, 100, 25, 2)
    with torch.no_grad():
        torch.testing.assert_close(model(x).logits, original(x).logits, rtol=1e-5, atol=1e-5)


def test_pyskl_ntu_conversion_errors(tmp_path):
    from bharnet.models.pretrained import convert_release, detect_pyskl_architecture

    with pytest.raises(ConversionError, match="pyskl's CTR-GCN: .*transposed"):
        detect_pyskl_architecture({"backbone.net.0.gcn1.PA": torch.zeros(3, 25, 25)})
    with pytest.raises(ConversionError, match="AAGCN"):
        detect_pyskl_architecture({"backbone.gcn.0.gcn.conv_a.0.weight": torch.zeros(1)})
    coco = _as_pyskl(_ours("stgcnpp", "mediapipe_hand21", 60, 3, 2, 16).state_dict())
    coco["backbone.gcn.0.gcn.A"] = torch.zeros(3, 17, 17)
    with pytest.raises(ConversionError, match="COCO-17"):
        detect_pyskl_architecture(coco)
    hand = tmp_path / "hand.pth"
    torch.save(_as_pyskl(_ours("stgcnpp", "mediapipe_hand21", 40, 2, 1, 10, **GESTURE).state_dict()), hand)
    with pytest.raises(ConversionError, match=r"hand\.pth: .*hand21 skeleton, --dataset ntu60 needs ntu_rgbd"):
        convert_release(hand, "pyskl", "ntu60")
    torch.save(_as_pyskl(_ours("stgcnpp", "ntu_rgbd", 40, 3, 2, 100).state_dict()), hand)
    with pytest.raises(ConversionError, match=r"fc\.weight has shape \(40, 256\), the ntu120 model.s is \(120, 256\)"):
        convert_release(hand, "pyskl", "ntu120")


@pytest.mark.parametrize("name", ["stgcnpp_ntu", "stgcn_ntu"])
def test_converted_pyskl_ntu_checkpoint_equals_pyskls_code(tmp_path, name):
    from bharnet.models.pretrained import convert_release

    STGCN, GCNHead = _pyskl()
    pkw = dict(CONFIGS[name][0])
    if name == "stgcn_ntu":
        pkw["graph_cfg"] = dict(layout="nturgb+d", mode="stgcn_spatial")  # the released ST-GCN configs' partition
    torch.manual_seed(0)
    theirs = perturb_(_Recognizer(STGCN(**pkw), GCNHead(num_classes=120, in_channels=256))).eval()
    path = tmp_path / "j.pth"
    torch.save({"state_dict": theirs.state_dict()}, path)
    ours = convert_release(path, "pyskl", "ntu120")
    x = torch.randn(2, 2, 100, 25, 3)
    with torch.no_grad():
        expected = theirs(x)
        torch.testing.assert_close(ours(x.permute(0, 4, 2, 3, 1).contiguous()).logits, expected, rtol=1e-5,
                                   atol=1e-5 * expected.abs().max().item())


def test_predict_with_a_converted_pyskl_ntu_model(tmp_path, capsys):
    """pyskl's NTU preprocessing at prediction: PreNormalize3D on the window, then UniformSample of 100 frames."""
    from bharnet.cli import main
    from bharnet.deploy.inputs import window_inputs
    from bharnet.deploy.predict import Predictor
    from bharnet.models.pretrained import convert_release

    torch.manual_seed(0)
    path = tmp_path / "j.pth"
    torch.save(_as_pyskl(perturb_(_ours("stgcnpp", "ntu_rgbd", 60, 3, 2, 100)).state_dict()), path)
    convert_release(path, "pyskl", "ntu60", tmp_path / "stgcnpp.pt")
    spec = Predictor(tmp_path / "stgcnpp.pt").spec
    assert spec.body_normalization == "pyskl" and spec.sampling == "uniform" and spec.streams["body"] == (3, 100, 25, 2)
    rng = np.random.default_rng(0)
    body = np.zeros((150, 2, 25, 3), np.float32)
    body[20:, 0] = rng.normal(size=(130, 25, 3)) + [0.0, 0.0, 3.0]  # person 0 appears at frame 20; no person 1
    x = window_inputs({"body": body}, 0, 150, spec)["body"]
    assert x.shape == (3, 100, 25, 2) and not x[..., 1].any()
    np.testing.assert_allclose(x[:, 0, 1, 0], 0, atol=1e-5)  # the first kept frame's spine-mid at the origin
    empty = window_inputs({"body": np.zeros_like(body)}, 0, 150, spec)["body"]
    assert empty.shape == (3, 100, 25, 2) and not empty.any()
    skeleton = shared_data()
    skeleton = skeleton / "ntu" / "samples" / "S001C001P001R001A001.skeleton" if skeleton else None
    if skeleton is None or not skeleton.is_file():
        pytest.skip("the real NTU sample is not here (../shared/data/ntu/samples)")
    assert main(["predict", "--ckpt", str(tmp_path / "stgcnpp.pt"), "--skeleton", str(skeleton), "--top-k", "2"]) == 0
    printed = capsys.readouterr().out
    assert "preprocessing: pyskl" in printed and printed.count(" %  ") == 2
