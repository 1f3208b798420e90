"""Exports (ONNX checked with onnxruntime, TorchScript), the video predictor and `bharnet predict`."""
import importlib.util

import numpy as np
import pytest
import torch
from conftest import needs_mediapipe, require_shared

import bharnet
from bharnet.cli import main
from bharnet.deploy.export import export_onnx, export_torchscript, select_part
from bharnet.deploy.inputs import ModelSpec, window_inputs
from bharnet.deploy.predict import Predictor, window_starts

HAS_ORT = importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None
needs_ort = pytest.mark.skipif(not HAS_ORT, reason="onnx/onnxruntime not installed (pip install 'bharnet[deploy]')")
TINY = dict(num_classes=20, num_frames=16, base_channels=8, num_persons=1)


def tiny(name: str, **kw) -> torch.nn.Module:
    args = dict(TINY, **kw)
    if name == "expert":
        args.pop("num_persons")
        args["num_persons"] = 1 if kw.get("stream", "body") == "body" else 2
    model = bharnet.create_model(name, **args)
    # perturb the batch-norm statistics so that a train/eval mix-up cannot go unnoticed
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def save(tmp_path, model, name="model.pt"):
    config = {"data": {"modality": "bone", "window": 16}, "eval": {"class_names": "synthetic"}}
    return bharnet.save_checkpoint(tmp_path / name, model, extra={"config": config})


@needs_ort
# An export takes ~7 s per backbone here: the default run covers a single expert, one taken out of BHaRNet-E
# and the full BHaRNet-E; `-m slow` adds the rest.
@pytest.mark.parametrize("name,part", [("expert", "full"), ("bharnet_e", "body"), ("bharnet_e", "full"),
                                       pytest.param("score_fusion", "full", marks=pytest.mark.slow),
                                       pytest.param("score_fusion", "hand", marks=pytest.mark.slow),
                                       pytest.param("bharnet_e", "light", marks=pytest.mark.slow),
                                       pytest.param("bharnet_p", "full", marks=pytest.mark.slow),
                                       pytest.param("bharnet_m", "full", marks=pytest.mark.slow)])
def test_onnx_matches_pytorch_with_dynamic_batch(tmp_path, name, part):
    model = select_part(tiny(name), part)
    result = export_onnx(model, tmp_path / "m.onnx", batch_size=2, check_batch=3)
    assert result.outputs[0] == "logits" and result.check_batch == 3
    scale = max(result.logit_scale, 1.0)
    assert max(result.max_abs_diff.values()) < 1e-4 * scale, result.max_abs_diff
    # the model must not have been changed by the export
    x = [torch.randn(1, *s) for s in (result.inputs[k][1:] for k in result.inputs)]
    with torch.no_grad():
        assert torch.equal(model(*x).logits, model(*x).logits)
    assert not model.training


def test_select_part_errors():
    with pytest.raises(ValueError, match="expert-only"):
        select_part(tiny("score_fusion"), "light")
    with pytest.raises(ValueError, match="no hand part"):
        select_part(tiny("expert"), "hand")
    with pytest.raises(ValueError, match="no body expert classifier"):
        select_part(tiny("bharnet_p"), "body")
    e = tiny("bharnet_e")
    body = select_part(e, "body")
    x, h = torch.randn(2, 3, 16, 25, 1), torch.randn(2, 3, 16, 25, 2)
    with torch.no_grad():
        torch.testing.assert_close(body(x).logits, e(x, h).branches["body_expert"])


def test_torchscript_matches(tmp_path):
    result = export_torchscript(tiny("bharnet_e"), tmp_path / "m.pt")
    assert max(result.max_abs_diff.values()) < 1e-5 * max(result.logit_scale, 1.0)


@needs_ort
def test_export_cli_and_onnx_predictor(tmp_path, capsys):
    from bharnet.datasets.synthetic import BENCHMARKS

    BASIC = BENCHMARKS["basic"]  # a 20-class "synthetic" config: the first benchmark's names (as old demo runs)

    ckpt = save(tmp_path, tiny("expert", stream="hand"))
    assert main(["export", str(ckpt), "--onnx", str(tmp_path / "h.onnx")]) == 0
    out = capsys.readouterr().out
    assert "max |exported - PyTorch|" in out and "logits_hand" in out
    torch_p, onnx_p = Predictor(ckpt), Predictor(tmp_path / "h.onnx")
    assert onnx_p.spec == torch_p.spec and onnx_p.spec.modality == "bone"
    assert onnx_p.spec.streams == {"hand": (3, 16, 25, 2)} and onnx_p.spec.class_names == list(BASIC.class_names)
    rng = np.random.default_rng(0)
    batch = {k: rng.normal(size=(2, *s)).astype(np.float32) for k, s in torch_p.spec.streams.items()}
    p1, b1 = torch_p(batch)
    p2, b2 = onnx_p(batch)
    np.testing.assert_allclose(p1, p2, atol=1e-5)
    assert set(b1) == set(b2) == {"hand"}
    assert main(["export", str(ckpt)]) == 1  # nothing to write
    assert "--onnx" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "absent.pt"), "--onnx", str(tmp_path / "x.onnx")]) == 1
    assert "no such checkpoint" in capsys.readouterr().err
    (tmp_path / "garbage.onnx").write_bytes(b"not a model")
    assert main(["predict", str(tmp_path / "v.mp4"), "--ckpt", str(tmp_path / "garbage.onnx")]) == 1
    assert "garbage.onnx: not a readable ONNX model" in capsys.readouterr().err


def test_window_inputs_match_the_test_feeder():
    """A window of an extraction result is preprocessed like a test sample of the store."""
    rng = np.random.default_rng(0)
    frames = 40
    skel = {"body": rng.normal(size=(frames, 2, 25, 3)).astype(np.float32),
            "landmarks": rng.normal(100, 20, size=(frames, 2, 21, 3)).astype(np.float32),
            "detected": np.ones((frames, 2), bool), "image_size": np.array([640, 480])}
    spec = ModelSpec(streams={"body": (3, 16, 25, 1), "hand": (3, 16, 25, 2)}, modality="bone")
    x = window_inputs(skel, 8, 40, spec)
    assert x["body"].shape == (3, 16, 25, 1) and x["hand"].shape == (3, 16, 25, 2)
    assert not x["hand"][:, :, 21:].any()  # padded joints
    from bharnet.data.hands import normalize_hands
    from bharnet.data.transforms import apply_modality, crop_resize, draw_crop
    from bharnet.datasets.ntu import center_on_spine
    body = center_on_spine(skel["body"][8:40, :1]).transpose(3, 0, 2, 1)
    crop = draw_crop(32, 16, (0.95,), None)
    expected = apply_modality(crop_resize(body, crop), "bone", bharnet.get_layout("ntu_rgbd").bone_pairs())
    np.testing.assert_allclose(x["body"], expected, rtol=1e-5, atol=1e-6)
    hands = normalize_hands(skel["landmarks"][8:40], skel["detected"][8:40], "palm")
    assert np.abs(hands).max() > 0 and np.isfinite(x["hand"]).all()


def test_window_inputs_repeat_the_training_hand_preprocessing():
    """A model trained on wrist-centred hands with undetected frames zeroed gets the same at prediction."""
    rng = np.random.default_rng(1)
    frames = 32
    detected = np.ones((frames, 2), bool)
    detected[10:20, 1] = False
    skel = {"body": rng.normal(size=(frames, 1, 25, 3)).astype(np.float32),
            "landmarks": rng.normal(100, 20, size=(frames, 2, 21, 3)).astype(np.float32),
            "detected": detected, "image_size": np.array([640, 480])}
    spec = ModelSpec(streams={"body": (3, 32, 25, 1), "hand": (3, 32, 25, 2)}, modality="joint",
                     hand_normalization="wrist", hand_missing="zero")
    x = window_inputs(skel, 0, frames, spec)["hand"]  # (3, 32, 25, 2); the test crop keeps frames 0..31
    assert np.abs(x[:2, :, 0]).max() < 1e-6  # wrists at the origin (x, y; z is MediaPipe's own)
    seen = detected[:, 1]  # the test crop of 32 valid frames to 32 is the identity
    assert not x[:, ~seen, :, 1].any() and np.abs(x[:, seen, 1:21, 1]).min(axis=(0, 2)).min() > 0
    assert np.abs(x[:, :, 1:21, 0]).max(axis=(0, 2)).min() > 0  # the left hand: every frame kept
    kept = window_inputs(skel, 0, frames, ModelSpec(**dict(spec.__dict__, hand_missing="interpolate")))["hand"]
    assert np.abs(kept[:, ~seen, 1:21, 1]).max() > 0
    assert ModelSpec.from_json(spec.to_json()) == spec


def test_window_starts_cover_the_clip():
    assert window_starts(50, 64, 32) == [0]
    assert window_starts(100, 64, 32) == [0, 32, 36]
    assert window_starts(128, 64, 32) == [0, 32, 64]


@needs_mediapipe
def test_predict_real_clip_and_empty_video(tmp_path, capsys):
    import cv2

    video = require_shared("ntu", "samples", "S001C001P001R001A001_rgb.avi")
    ckpt = save(tmp_path, tiny("bharnet_e"))
    sheet, annotated = tmp_path / "sheet.png", tmp_path / "annotated.avi"
    code = main(["predict", str(video), "--ckpt", str(ckpt), "--mirrored", "--persons", "1", "--window", "64",
                 "--stride", "32", "--sheet", str(sheet), "--annotate", str(annotated), "-q"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "frames     0-63" in out and "frames    39-102" in out and out.count(" %  ") == 3 * 5
    image = cv2.imread(str(sheet))
    assert image is not None and image.shape[1] == 4 * 360
    cap = cv2.VideoCapture(str(annotated))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 103 and int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 1920
    cap.release()
    empty = tmp_path / "empty.avi"
    writer = cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"MJPG"), 30, (320, 240))
    for i in range(10):
        writer.write(np.full((240, 320, 3), 30 + 5 * i, np.uint8))
    writer.release()
    assert main(["predict", str(empty), "--ckpt", str(ckpt), "-q"]) == 3
    assert "no person found" in capsys.readouterr().out
    assert main(["predict", str(tmp_path / "absent.mp4"), "--ckpt", str(ckpt)]) == 1
    assert "no such video" in capsys.readouterr().err


@needs_mediapipe
def test_stream_labels_every_stride(tmp_path, capsys):
    video = require_shared("ntu", "samples", "S001C001P001R001A001_rgb.avi")
    ckpt = save(tmp_path, tiny("expert"))
    code = main(["predict", str(video), "--ckpt", str(ckpt), "--stream", "--window", "16", "--stride", "8",
                 "--max-frames", "40", "--persons", "1", "--mirrored"])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = [line for line in out.splitlines() if line.startswith("frame")]
    assert [int(line.split()[1]) for line in lines] == [15, 23, 31, 39]
    assert all("latency" in line and "real-time x" in line for line in lines)
    # --fps 15 on a 30 fps video: every second frame extracted, the same 16-frame span resampled to the model
    code = main(["predict", str(video), "--ckpt", str(ckpt), "--stream", "--window", "16", "--stride", "8",
                 "--max-frames", "40", "--persons", "1", "--mirrored", "--fps", "15"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert [int(line.split()[1]) for line in out.splitlines() if line.startswith("frame")] == [14, 22, 30, 38]


@needs_mediapipe
def test_ensemble_and_bharnet_m_on_a_video(tmp_path, capsys, monkeypatch):
    """Two checkpoints form a score ensemble (logits summed, each with its own modality); BHaRNet-M reads
    its ST-ROI images from the video."""
    import bharnet.deploy.predict as predict_module

    video = require_shared("ntu", "samples", "S001C001P001R001A001_rgb.avi")
    joint = bharnet.save_checkpoint(tmp_path / "j.pt", tiny("expert"),
                                    extra={"config": {"data": {"modality": "joint"}}})
    bone = save(tmp_path, tiny("expert"), "b.pt")
    seen = []
    original = predict_module.Predictor.logits

    def spy(self, batch):
        out = original(self, batch)
        seen.append((self.spec.modality, batch["body"].copy(), out[0]))
        return out

    monkeypatch.setattr(predict_module.Predictor, "logits", spy)
    preds = [Predictor(joint), Predictor(bone)]
    result = predict_module.predict_video(video, preds, window=0, mirrored=True, max_persons=1, progress=False)
    (m1, x1, y1), (m2, x2, y2) = seen
    assert (m1, m2) == ("joint", "bone") and not np.allclose(x1, x2)  # each model its own input
    fused = np.exp(y1 + y2 - (y1 + y2).max()) / np.exp(y1 + y2 - (y1 + y2).max()).sum()
    assert result.windows[0].top[0][1] == pytest.approx(float(fused.max()), rel=1e-5)
    m = bharnet.create_model("bharnet_m", num_classes=20, num_frames=16, base_channels=8, num_persons=1)
    ckpt = bharnet.save_checkpoint(tmp_path / "m.pt", m.eval(), extra={"config": {"data": {"modality": "joint"}}})
    monkeypatch.setattr(predict_module.Predictor, "logits", original)
    assert main(["predict", str(video), "--ckpt", str(ckpt), "--mirrored", "--persons", "1", "--window", "0",
                 "-q"]) == 0
    out = capsys.readouterr().out
    assert "roi (3, 225, 225)" in out and "frames     0-102" in out
