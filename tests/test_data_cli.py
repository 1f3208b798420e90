"""`bharnet data ...` end to end: exit codes, messages, files."""
import importlib.util
import json
import pickle

import numpy as np
import pytest
from conftest import needs_mediapipe
from test_data_ntu import standing_body, write_skeleton

from bharnet.cli import main
from bharnet.data.store import DatasetStore
from bharnet.datasets import pyskl


@pytest.fixture
def ntu_raw(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    rng = np.random.default_rng(0)
    for name in ("S001C001P001R001A001", "S001C002P003R001A002", "S001C003P002R002A003"):
        write_skeleton(raw / f"{name}.skeleton", [[("1", f)] for f in standing_body(rng, 30)])
    (raw / "S001C001P001R001A004.skeleton").write_text("garbage\n")
    return raw


def test_prepare_info_and_errors(tmp_path, ntu_raw, capsys):
    out = tmp_path / "s"
    assert main(["data", "prepare", "ntu60", "--skeletons", str(ntu_raw), "--out", str(out), "-q",
                 "--workers", "1"]) == 0
    text = capsys.readouterr().out
    assert "wrote 3 samples" in text and "skipped 1 malformed" in text and "A004.skeleton:1" in text
    assert main(["data", "info", str(out), "--verify"]) == 0
    text = capsys.readouterr().out
    assert "3 samples, 90 frames, 60 classes" in text and "split xsub: train 2, test 1" in text
    assert "checksums: all files match" in text
    assert main(["data", "info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["splits"]["xview"] == {"train": 2, "test": 1}
    # refusing to overwrite, then a clear error for a missing store and a damaged one
    assert main(["data", "prepare", "ntu60", "--skeletons", str(ntu_raw), "--out", str(out), "-q"]) == 1
    assert "exists; pass overwrite=True" in capsys.readouterr().err
    assert main(["data", "info", str(tmp_path / "nope")]) == 1
    assert "no dataset store here" in capsys.readouterr().err
    (out / "body.bin").unlink()
    assert main(["data", "info", str(out)]) == 1
    err = capsys.readouterr().err
    assert "body.bin" in err and "missing" in err
    assert main(["data", "prepare", "ntu60", "--out", str(out)]) == 1
    assert "--skeletons DIR" in capsys.readouterr().err


def test_pyskl_import_export_round_trip(tmp_path, ntu_raw, capsys):
    store = tmp_path / "s"
    assert main(["data", "prepare", "ntu120", "--skeletons", str(ntu_raw), "--out", str(store), "-q"]) == 0
    capsys.readouterr()
    assert main(["data", "export-pyskl", str(store), "--out", str(tmp_path / "a.pkl")]) == 0
    data = pyskl.load(tmp_path / "a.pkl")
    assert set(data["split"]) == {"xsub_train", "xsub_val", "xset_train", "xset_val"}
    assert data["annotations"][0]["keypoint"].shape == (2, 30, 25, 3)
    assert main(["data", "import-pyskl", str(tmp_path / "a.pkl"), "--out", str(tmp_path / "b"),
                 "--num-classes", "120"]) == 0
    a, b = DatasetStore(store), DatasetStore(tmp_path / "b")
    assert b.protocols == ("xsub", "xset") and len(b) == 3
    for i in range(3):
        np.testing.assert_array_equal(a[i].body, b[i].body)
        assert a.names[i] == b.names[i] and a.labels[i] == b.labels[i]
    np.testing.assert_array_equal(a.split("xset", "test"), b.split("xset", "test"))


def test_import_refuses_code(tmp_path, capsys):
    class Evil:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"annotations": [Evil()], "split": {}}))
    assert main(["data", "import-pyskl", str(path), "--out", str(tmp_path / "x")]) == 1
    assert "refuses to load" in capsys.readouterr().err
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "x").exists()


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="matplotlib not installed")
def test_show_writes_png(tmp_path, ntu_raw, capsys):
    store = tmp_path / "s"
    assert main(["data", "prepare", "ntu60", "--skeletons", str(ntu_raw), "--out", str(store), "-q"]) == 0
    png = tmp_path / "x.png"
    assert main(["data", "show", str(store), "S001C002P003R001A002", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert main(["data", "show", str(store), "S009C002P003R001A002", "--out", str(png)]) == 1
    assert "no sample named" in capsys.readouterr().err
    assert main(["data", "show", str(store), "99", "--out", str(png)]) == 1
    assert "sample index 99 out of range for 3 samples" in capsys.readouterr().err


def test_prepare_checks_its_optional_inputs_first(tmp_path, ntu_raw, capsys):
    out = tmp_path / "s"
    assert main(["data", "prepare", "ntu60", "--skeletons", str(ntu_raw), "--out", str(out), "-q",
                 "--hands", str(tmp_path / "no_hands")]) == 1
    assert "--hands" in capsys.readouterr().err and not out.exists()
    assert main(["data", "prepare", "ntu60", "--skeletons", str(ntu_raw), "--out", str(out), "-q",
                 "--missing-list", str(tmp_path / "missing.txt")]) == 1
    assert "--missing-list" in capsys.readouterr().err and not out.exists()


def test_prepare_pku_mmd(tmp_path, capsys):
    root = tmp_path / "pku"
    (root / "skeleton").mkdir(parents=True)
    (root / "label").mkdir()
    rng = np.random.default_rng(1)
    for vid in ("0002-L", "0002-M", "0003-R"):
        frames = rng.normal(size=(40, 150))
        frames[:, 75:] = 0
        (root / "skeleton" / f"{vid}.txt").write_text("\n".join(" ".join(f"{v:.6f}" for v in row) for row in frames))
        (root / "label" / f"{vid}.txt").write_text("3,0,10,1\n51,12,30,2\n")
    (root / "skeleton" / "0004-L.txt").write_text("1 2 3\n")  # malformed: skipped and counted
    (root / "label" / "0004-L.txt").write_text("3,0,10,1\n")
    (root / "cross-subject.txt").write_text("Training videos: \n0002-L, 0002-M, 0004-L\nValidataion videos: \n0003-R\n")
    (root / "cross-view.txt").write_text("Training videos: \n0002-M, 0003-R\nValidataion videos: \n0002-L, 0004-L\n")
    assert main(["data", "prepare", "pku-mmd", "--root", str(root), "--out", str(tmp_path / "s"), "-q"]) == 0
    text = capsys.readouterr().out
    assert "wrote 6 samples" in text and "skipped 1 malformed" in text and "0004-L.txt:1" in text
    store = DatasetStore(tmp_path / "s")
    assert store.num_classes == 51 and store.labels.tolist() == [2, 50] * 3
    assert [str(n) for n in store.names] == ["0002-L_000", "0002-L_001", "0002-M_000", "0002-M_001",
                                             "0003-R_000", "0003-R_001"]
    assert store.split("xsub", "test").tolist() == [4, 5] and store.split("xview", "test").tolist() == [0, 1]
    assert store[1].body.shape == (18, 2, 25, 3)


def test_prepare_pku_mmd_with_hands(tmp_path, capsys):
    from bharnet.data.hands import save_hands

    root = tmp_path / "pku"
    (root / "skeleton").mkdir(parents=True)
    (root / "label").mkdir()
    hands_dir = tmp_path / "hands"
    rng = np.random.default_rng(2)
    for vid in ("0002-L", "0003-R"):
        (root / "skeleton" / f"{vid}.txt").write_text(
            "\n".join(" ".join(f"{v:.6f}" for v in row) for row in rng.normal(size=(40, 150))))
        (root / "label" / f"{vid}.txt").write_text("3,5,15,1\n")
        landmarks = np.zeros((40, 2, 21, 3), np.float32)
        landmarks[:, 0, :, 0] = np.arange(40)[:, None]  # x = the video frame index
        detected = np.zeros((40, 2), bool)
        detected[:, 0] = True
        save_hands(hands_dir / f"{vid}.npz", dict(landmarks=landmarks, detected=detected, score=np.ones((40, 2)),
                                                  anchors=np.zeros((40, 2, 2, 2)), person=np.ones(40, bool),
                                                  image_size=np.array([1920, 1080]), fps=np.float32(30)))
    (root / "cross-subject.txt").write_text("Training videos: 0002-L\nValidation videos: 0003-R\n")
    (root / "cross-view.txt").write_text("Training videos: 0002-L\nValidation videos: 0003-R\n")
    assert main(["data", "prepare", "pku-mmd", "--root", str(root), "--out", str(tmp_path / "s"), "-q",
                 "--hands", str(hands_dir), "--hand-normalization", "none"]) == 0
    store = DatasetStore(tmp_path / "s")
    sample = store[0]
    assert sample.hands.shape == (10, 2, 21, 3) and sample.hand_mask[:, 0].all() and not sample.hand_mask[:, 1].any()
    np.testing.assert_array_equal(sample.hands[:, 0, 0, 0], np.arange(5, 15))  # frames 5..14 of the video


@needs_mediapipe
def test_extraction_that_produced_nothing_exits_nonzero(tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "a.avi").write_text("not a video")
    assert main(["data", "extract-hands", str(videos), "--out", str(tmp_path / "hands"), "-q", "--workers", "1"]) == 1
    assert "failed 1" in capsys.readouterr().out and (tmp_path / "hands" / "failures.log").is_file()
