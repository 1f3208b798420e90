"""NW-UCLA reader and conversion (the whole real set when it is available)."""
import json
import shutil

import numpy as np
import pytest
from conftest import require_shared

from bharnet.data.sample import DataFormatError
from bharnet.data.store import DatasetStore
from bharnet.datasets import ucla
from bharnet.datasets.prepare import prepare_ucla


def write(path, skeletons, label=3, name=None):
    path.write_text(json.dumps({"file_name": name or path.stem, "skeletons": skeletons, "label": label}))
    return path


def test_read_sequence(tmp_path):
    skel = np.arange(4 * 20 * 3, dtype=np.float32).reshape(4, 20, 3) / 10
    s = ucla.read_sequence(write(tmp_path / "a02_s03_e04_v03.json", skel.tolist(), label=2))
    assert s.body.shape == (4, 1, 20, 3) and s.label == 1 and s.name == "a02_s03_e04_v03"
    np.testing.assert_allclose(s.body[:, 0], skel)
    assert s.meta == dict(action=2, subject=3, episode=4, view=3)
    assert ucla.split_of(s.name) == "test" and ucla.split_of("a02_s03_e04_v02") == "train"


@pytest.mark.parametrize("content, expect", [
    ("{not json", "invalid json"),
    ('{"skeletons": [[[1, 2, 3]]], "label": 1}', r"must have shape \[T>0\]\[20\]\[3\], got \[1, 1, 3\]"),
    ('{"skeletons": [], "label": 1}', "must have shape"),
    ('{"skeletons": [[[1, 2]]], "label": 1}', "must have shape"),
    ('{"label": 1}', "expected an object with 'skeletons' and 'label'"),
    ('[1, 2]', "expected an object"),
])
def test_malformed(tmp_path, content, expect):
    path = tmp_path / "a01_s01_e00_v01.json"
    path.write_text(content)
    with pytest.raises(DataFormatError, match=expect) as err:
        ucla.read_sequence(path)
    assert str(path) in str(err.value)


def test_bad_values(tmp_path):
    skel = np.zeros((3, 20, 3)).tolist()
    with pytest.raises(DataFormatError, match="label' must be an integer in 1..10, got 11"):
        ucla.read_sequence(write(tmp_path / "a01_s01_e00_v01.json", skel, label=11))
    skel[1][2][0] = "x"
    with pytest.raises(DataFormatError, match="not a regular"):
        ucla.read_sequence(write(tmp_path / "a01_s01_e00_v01.json", skel))
    path = tmp_path / "a01_s01_e00_v02.json"
    path.write_text('{"skeletons": [' + ",".join(["[" + ",".join(["[NaN, 0, 0]"] * 20) + "]"]) + '], "label": 1}')
    with pytest.raises(DataFormatError, match="non-finite"):
        ucla.read_sequence(path)


def test_prepare_skips_bad_file(tmp_path):
    root = tmp_path / "ucla"
    (root / "all_sqe").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, label in (("a01_s01_e00_v01", 1), ("a02_s01_e00_v02", 2), ("a03_s01_e00_v03", 3)):
        write(root / "all_sqe" / f"{name}.json", rng.normal(size=(5, 20, 3)).tolist(), label=label)
    (root / "all_sqe" / "a04_s01_e00_v03.json").write_text("{")
    report = prepare_ucla(root, tmp_path / "s", progress=False)
    assert report.written == 3 and len(report.failed) == 1 and "a04_s01_e00_v03.json" in report.failed[0][1]
    store = DatasetStore(tmp_path / "s")
    assert store.split("xview", "train").tolist() == [0, 1] and store.split("xview", "test").tolist() == [2]
    assert store.labels.tolist() == [0, 1, 2] and store.num_classes == 10


def test_whole_real_set(tmp_path):
    root = require_shared("nw_ucla")
    report = prepare_ucla(root, tmp_path / "ucla", progress=False, workers=2)
    store = DatasetStore(tmp_path / "ucla")
    assert report.written == len(store) == 1484 and not report.failed
    # The official CTR-GCN protocol: 1,020 training samples (views 1, 2), the 464 of val_label.json for testing.
    assert report.splits == {"xview": {"train": 1020, "test": 464}}
    official = {e["file_name"]: e for e in json.loads((root / "val_label.json").read_text())}
    test = store.split("xview", "test")
    assert {str(store.names[i]) for i in test} == set(official)
    for i in test[:50]:
        entry = official[str(store.names[i])]
        assert store.labels[i] == entry["label"] - 1 and store.num_frames(int(i)) == entry["length"]
    assert "equals the official list (464 samples)" in report.format()
    store.verify()
    shutil.rmtree(tmp_path / "ucla")


def test_prepare_with_hands(tmp_path):
    from bharnet.data.hands import save_hands

    root = tmp_path / "ucla"
    (root / "all_sqe").mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name in ("a01_s01_e00_v01", "a02_s01_e00_v03"):
        write(root / "all_sqe" / f"{name}.json", rng.normal(size=(6, 20, 3)).tolist(), label=1)
        landmarks = np.zeros((6, 2, 21, 3), np.float32)
        landmarks[:, 1, :, 0] = np.arange(6)[:, None] + 100
        detected = np.zeros((6, 2), bool)
        detected[::2, 1] = True
        save_hands(tmp_path / "hands" / f"{name}.npz", dict(landmarks=landmarks, detected=detected,
                                                             score=np.ones((6, 2)), anchors=np.zeros((6, 2, 2, 2)),
                                                             person=np.ones(6, bool), image_size=np.array([640, 480])))
    report = prepare_ucla(root, tmp_path / "s", hands_dir=tmp_path / "hands", hand_options={"normalization": "none"},
                          progress=False)
    assert report.written == 2
    sample = DatasetStore(tmp_path / "s")[0]
    assert sample.hands.shape == (6, 2, 21, 3) and sample.hand_mask[:, 1].tolist() == [True, False] * 3
    np.testing.assert_allclose(sample.hands[:, 1, 0, 0], [100, 101, 102, 103, 104, 104])  # interpolated, held
