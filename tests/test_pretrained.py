"""`bharnet convert`: released checkpoints -> ready bharnet models that know their classes and preprocessing."""
import reference_shiftgcn as ref
import torch
from conftest import require_shared, shared_data

import bharnet
from bharnet.cli import main
from bharnet.models.convert import ConversionError
from bharnet.models.pretrained import convert_release, list_releases


def _release_file(tmp_path, num_class=60, name="ntu_ShiftGCN_joint_xsub.pt"):
    torch.manual_seed(0)
    model = ref.Model(num_class=num_class)
    path = tmp_path / name
    torch.save(model.state_dict(), path)
    return path, model


def test_convert_writes_a_ready_model_with_its_recipe(tmp_path, capsys):
    path, reference = _release_file(tmp_path)
    out = tmp_path / "sg.pt"
    assert main(["convert", str(path), "--from", "shift-gcn", "--out", str(out)]) == 0  # dataset from the name
    printed = capsys.readouterr().out
    assert "ntu60 classes" in printed and "preprocessing 2s-agcn" in printed
    model = bharnet.load_checkpoint(out).eval()
    extra = model.checkpoint_extra
    assert extra["preprocessing"] == {"body_normalization": "2s-agcn"}
    assert extra["config"]["eval"]["class_names"] == "ntu60" and extra["source"]["file"] == path.name
    assert len(extra["source"]["sha256"]) == 64
    x = torch.randn(1, 3, 300, 25, 2)
    reference.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x).logits, reference(x), rtol=1e-4, atol=1e-4)
    from bharnet.deploy.predict import Predictor

    spec = Predictor(out).spec
    assert spec.body_normalization == "2s-agcn" and spec.class_names[0] == "drink water"
    assert spec.streams == {"body": (3, 300, 25, 2)}


def test_convert_errors_are_clear(tmp_path, capsys):
    path, _ = _release_file(tmp_path, name="mine.pt")
    assert main(["convert", str(path), "--from", "shift-gcn", "--out", str(tmp_path / "x.pt")]) == 1
    assert "--dataset ntu60 or --dataset ntu120" in capsys.readouterr().err
    assert main(["convert", str(path), "--from", "shift-gcn", "--dataset", "ntu120", "--out",
                 str(tmp_path / "x.pt")]) == 1
    err = capsys.readouterr().err
    assert "heads.0.fc.weight has shape (60, 256), the ntu120 model's is (120, 256)" in err and "--dataset" in err
    assert not (tmp_path / "x.pt").exists()
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert main(["convert", str(tmp_path / "junk.pt"), "--from", "shift-gcn", "--dataset", "ntu60", "--out",
                 str(tmp_path / "x.pt")]) == 1
    assert "junk.pt" in capsys.readouterr().err
    import pytest

    with pytest.raises(ConversionError, match="missing key"):
        convert_release(_degcn_like(tmp_path), "shift-gcn", "ntu60")
    assert "ntu_ShiftGCN_joint_xview.pt" in list_releases()


def _degcn_like(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"fc.weight": torch.zeros(60, 256), "fc.bias": torch.zeros(60), "l1.gcn1.Linear_weight":
                torch.zeros(3, 64)}, path)
    return path


def test_predict_a_skeleton_file(tmp_path, capsys):
    path, _ = _release_file(tmp_path)
    out = tmp_path / "sg.pt"
    convert_release(path, "shift-gcn", "ntu60", out)
    skeleton = require_shared("ntu", "samples", "S001C001P001R001A001.skeleton")
    assert main(["predict", "--ckpt", str(out), "--skeleton", str(skeleton), "--top-k", "3"]) == 0
    printed = capsys.readouterr().out
    assert "103 frames, 1 body(ies); its name says class 1 (drink water)" in printed
    assert printed.count(" %  ") == 3
    assert main(["predict", "--ckpt", str(out), "--skeleton", str(tmp_path / "none.skeleton")]) == 1
    assert "no such file" in capsys.readouterr().err


RELEASED = ["ntu_ShiftGCN_joint_xsub.pt", "ntu_ShiftGCN_joint_xview.pt", "ntu120_ShiftGCN_joint_xsub.pt",
            "ntu120_ShiftGCN_joint_xsetup.pt"]


def test_released_shift_gcn_models_recognise_the_real_sample(tmp_path, capsys):
    """The real NTU sample (drink water) from its Kinect skeleton: every released model's top-1."""
    import pytest

    root = shared_data()
    weights = root / ".." / "weights" / "shift-gcn" if root else None
    if weights is None or not (weights / RELEASED[0]).is_file():
        pytest.skip("released Shift-GCN weights not found (../shared/weights/shift-gcn)")
    skeleton = require_shared("ntu", "samples", "S001C001P001R001A001.skeleton")
    for name in RELEASED:
        out = tmp_path / f"{name}.bharnet.pt"
        assert main(["convert", str(weights / name), "--from", "shift-gcn", "--out", str(out)]) == 0
        assert main(["predict", "--ckpt", str(out), "--skeleton", str(skeleton)]) == 0
        lines = capsys.readouterr().out.splitlines()
        first = next(i for i, line in enumerate(lines) if "its name says" in line)
        assert lines[first + 1].strip().endswith("drink water"), (name, lines[first + 1])


def test_convert_degcn_two_trunk_release(tmp_path):
    from conftest import perturb_
    from reference_degcn import ReferenceDeGCN

    torch.manual_seed(0)
    reference = perturb_(ReferenceDeGCN(num_classes=60, num_stream=2)).eval()
    path = tmp_path / "degcn.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in reference.state_dict().items()}}, path)
    model = convert_release(path, "degcn", "ntu60", tmp_path / "d.pt")
    loaded = bharnet.load_checkpoint(tmp_path / "d.pt").eval()
    assert loaded.checkpoint_extra["preprocessing"] == {"body_normalization": "reference"}
    x = torch.randn(2, 3, 64, 25, 2)
    with torch.no_grad():
        expected = sum(reference(x))
        for m in (model, loaded):
            torch.testing.assert_close(m(x).logits, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())


def test_bharnet_test_runs_a_converted_model_on_a_2s_agcn_store(tmp_path):
    """The real sample through `prepare --normalization 2s-agcn` and `sampling: fixed`: the converted NTU-60 X-View
    model (the sample is in its test split) gets it right."""
    import shutil

    import pytest
    import yaml

    root = shared_data()
    weights = root / ".." / "weights" / "shift-gcn" / "ntu_ShiftGCN_joint_xview.pt" if root else None
    if weights is None or not weights.is_file():
        pytest.skip("released Shift-GCN weights not found (../shared/weights/shift-gcn)")
    skeletons = tmp_path / "skeletons"
    skeletons.mkdir()
    sample = require_shared("ntu", "samples", "S001C001P001R001A001.skeleton")
    shutil.copy(sample, skeletons)
    shutil.copy(sample, skeletons / "S001C002P001R001A001.skeleton")  # a camera-2 copy: the (unused) training split
    store = tmp_path / "ntu60.store"
    assert main(["data", "prepare", "ntu60", "--skeletons", str(skeletons), "--out", str(store),
                 "--normalization", "2s-agcn", "-q"]) == 0
    ckpt = tmp_path / "sg.pt"
    convert_release(weights, "shift-gcn", "ntu60", ckpt)
    config = {"name": "sg", "out_dir": str(tmp_path / "runs"),
              "data": {"store": str(store), "protocol": "xview", "sampling": "fixed", "window": 300,
                       "modality": "joint", "test_batch_size": 1, "num_workers": 0},
              "model": {"name": "expert", "args": {"backbone": "shiftgcn", "num_classes": 60, "num_frames": 300,
                                                   "num_persons": 2}},
              "eval": {"class_names": "ntu60"}}
    cfg = tmp_path / "sg.yaml"
    cfg.write_text(yaml.safe_dump(config))
    from bharnet.engine import load_config
    from bharnet.engine.run import evaluate

    report = evaluate(load_config(cfg), ckpt, tmp_path / "eval")
    assert report["logits"]["top1"] == 1.0 and report["logits"]["samples"] == 1


def _ctrgcn_release(tmp_path, num_class=60):
    import reference_ctrgcn
    from conftest import perturb_

    torch.manual_seed(0)
    reference = perturb_(reference_ctrgcn.Model(num_class=num_class)).eval()
    path = tmp_path / "runs-65-40000.pt"  # the release's own naming: a plain state dict
    torch.save(reference.state_dict(), path)
    return path, reference


def test_convert_ctrgcn_release(tmp_path, capsys):
    path, reference = _ctrgcn_release(tmp_path)
    out = tmp_path / "ctr.pt"
    assert main(["convert", str(path), "--from", "ctrgcn", "--out", str(out)]) == 1  # an unknown file name
    assert "--dataset ntu60 or --dataset ntu120" in capsys.readouterr().err
    assert main(["convert", str(path), "--from", "ctrgcn", "--dataset", "ntu60", "--modality", "bone",
                 "--out", str(out)]) == 0
    assert "ntu60 classes, bone stream, preprocessing reference" in capsys.readouterr().out
    model = bharnet.load_checkpoint(out).eval()
    assert model.checkpoint_extra["config"]["data"] == {"modality": "bone", "window": 64}
    x = torch.randn(2, 3, 64, 25, 2)
    with torch.no_grad():
        expected = reference(x)
        torch.testing.assert_close(model(x).logits, expected, rtol=1e-5, atol=1e-5 * expected.abs().max().item())
    from bharnet.deploy.predict import Predictor

    spec = Predictor(out).spec
    assert spec.modality == "bone" and spec.body_normalization == "reference" and spec.streams == {
        "body": (3, 64, 25, 2)}


def test_ctrgcn_conversion_errors(tmp_path):
    import pytest

    from bharnet.models.convert import convert_ctrgcn_state_dict

    path, reference = _ctrgcn_release(tmp_path)
    state = reference.state_dict()
    with pytest.raises(ConversionError, match=r"missing key 'l3.gcn1.convs.1.conv4.bias'"):
        convert_ctrgcn_state_dict({k: v for k, v in state.items() if k != "l3.gcn1.convs.1.conv4.bias"})
    with pytest.raises(ConversionError, match=r"1 key\(s\) this architecture has no place for, e.g. 'l2.extra'"):
        convert_ctrgcn_state_dict(dict(state, **{"l2.extra": torch.zeros(1)}))
    with pytest.raises(ConversionError, match="non-adaptive"):
        convert_ctrgcn_state_dict({k: v for k, v in state.items() if k != "l1.gcn1.PA"})
    with pytest.raises(ConversionError, match="expected blocks l1..l10"):
        convert_ctrgcn_state_dict({k: v for k, v in state.items() if not k.startswith("l10.")})
    with pytest.raises(ConversionError, match=r"heads.0.fc.weight has shape \(60, 256\), the ntu120"):
        convert_release(path, "ctrgcn", "ntu120")
    with pytest.raises(ValueError, match="--dataset hagrid does not go with --from ctrgcn"):
        convert_release(path, "ctrgcn", "hagrid")


def test_converted_ctrgcn_equals_the_official_code(tmp_path):
    """Runs when BHARNET_PEER_ROOT points at a tree laid out by the peers' get_peers.sh (ctrgcn/)."""
    import importlib

    from conftest import peer_tree, perturb_

    with peer_tree("ctrgcn"):  # Model imports its graph class by name
        official = importlib.import_module("model.ctrgcn")
        torch.manual_seed(0)
        theirs = perturb_(official.Model(num_class=120, graph="graph.ntu_rgb_d.Graph",
                                         graph_args=dict(labeling_mode="spatial")))
    path = tmp_path / "ctrgcn.pt"
    torch.save(theirs.state_dict(), path)
    ours = convert_release(path, "ctrgcn", "ntu120")
    for train in (False, True):
        theirs.train(train), ours.train(train)
        x = torch.randn(2, 3, 64, 25, 2)
        with torch.set_grad_enabled(train):
            expected = theirs(x)
            torch.testing.assert_close(ours(x).logits, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())


def test_min_confidence_answers_no_action(tmp_path, capsys):
    import numpy as np
    import pytest

    from bharnet.deploy.predict import VideoPrediction, WindowPrediction, is_no_action

    assert is_no_action([("wave", 0.4), ("clap", 0.3)], 0.5) and not is_no_action([("wave", 0.6)], 0.5)
    assert not is_no_action([], 0.5)  # no person: nothing to call "no action"
    with pytest.raises(ValueError, match=r"probability in \[0, 1\]"):
        is_no_action([("wave", 0.4)], 40)
    skel = {"detected": np.ones((10, 2), bool), "body_present": np.ones((10, 1), bool), "fps": 30.0}
    result = VideoPrediction(tmp_path / "v.mp4", [WindowPrediction(0, 10, [("wave", 0.4), ("clap", 0.3)]),
                                                  WindowPrediction(10, 20, [("clap", 0.9)])], skel,
                             {"extract": 1.0, "model": 0.1})
    text = result.format(2, min_confidence=0.5)
    assert text.count("no action (no class reaches 50 %)") == 1 and "40.0 %  wave" in text
    assert "no action" not in result.format(2)
    from bharnet.deploy.render import frame_labels

    labels = frame_labels(result.windows, 20, min_confidence=0.5)  # what the sheet and the video show
    assert labels[0] == labels[9] == "no action (best: wave 40 %)" and labels[10] == "clap (90 %)"
    assert frame_labels(result.windows, 20)[0] == "wave (40 %)"
    path, _ = _release_file(tmp_path)
    out = tmp_path / "sg.pt"
    convert_release(path, "shift-gcn", "ntu60", out)
    assert main(["predict", "--ckpt", str(out), "--skeleton", str(tmp_path / "x.skeleton"),
                 "--min-confidence", "50"]) == 1
    assert "--min-confidence must be a probability in [0, 1], got 50" in capsys.readouterr().err
    skeleton = require_shared("ntu", "samples", "S001C001P001R001A001.skeleton")
    assert main(["predict", "--ckpt", str(out), "--skeleton", str(skeleton), "--min-confidence", "0.999"]) == 0
    assert "no action (no class reaches 99.9 %)" in capsys.readouterr().out  # random weights: never that sure
