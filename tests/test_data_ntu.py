"""NTU RGB+D reader and reference preprocessing, on synthetic files and on the real sample."""
from pathlib import Path

import numpy as np
import pytest
from conftest import require_shared

from bharnet.data import kinect
from bharnet.data.sample import DataFormatError
from bharnet.data.store import DatasetStore
from bharnet.datasets import ntu
from bharnet.datasets.prepare import prepare_ntu

SAMPLE = "S001C001P001R001A001"


def standing_body(rng: np.random.Generator, n: int, offset=(0.0, 0.0, 3.0), sway: float = 0.05) -> np.ndarray:
    """``(n, 25, 12)`` joint lines of an upright body (tall, narrow: passes the spread test)."""
    joints = np.zeros((n, 25, 12))
    base = np.stack([rng.uniform(-0.2, 0.2, 25), np.linspace(-0.9, 0.8, 25), rng.uniform(-0.1, 0.1, 25)], -1)
    for t in range(n):
        joints[t, :, :3] = base + np.asarray(offset) + rng.normal(0, sway, (25, 3))
    joints[..., 5:7] = 500 + joints[..., :2] * 300  # colour pixels
    joints[..., 11] = 2
    return joints


def write_skeleton(path: Path, frames: list[list[tuple[str, np.ndarray]]], crlf: bool = True) -> Path:
    """frames[f] = [(body_id, (25, 12) values), ...]."""
    lines = [str(len(frames))]
    for bodies in frames:
        lines.append(str(len(bodies)))
        for body_id, values in bodies:
            lines.append(f"{body_id} 0 1 1 1 1 0 0.02 0.05 2")
            lines.append("25")
            lines.extend(" ".join(f"{v:.7g}" for v in row) for row in values)
    path.write_text(("\r\n" if crlf else "\n").join(lines) + "\r\n")
    return path


def test_real_sample_values():
    path = require_shared("ntu", "samples", f"{SAMPLE}.skeleton")
    seq = ntu.read_skeleton(path)
    assert seq.name == SAMPLE and seq.num_frames == 103 and len(seq.video_frames) == 103
    assert len(seq.bodies) == 1 and seq.bodies[0].body_id == "72057594037931101"
    body = seq.bodies[0]
    np.testing.assert_allclose(body.joints[0, 0], [0.2181153, 0.1725972, 3.785547], rtol=1e-6)
    np.testing.assert_allclose(body.colors[0, 0], [1036.233, 519.1677], rtol=1e-6)
    np.testing.assert_allclose(body.joints[0, 3], [0.2128507, 0.8079225, 3.581995], rtol=1e-6)
    assert body.tracking[0, 0] == 2


def test_real_sample_preprocessed():
    path = require_shared("ntu", "samples", f"{SAMPLE}.skeleton")
    sample = ntu.to_sample(ntu.read_skeleton(path))
    assert sample.body.shape == (103, 2, 25, 3) and sample.label == 0
    np.testing.assert_allclose(sample.body[0, 0, 1], 0, atol=1e-7)  # centred on spine mid of frame 0
    assert not sample.body[:, 1].any()  # NTU60 convention: actor 2 zero
    dup = ntu.to_sample(ntu.read_skeleton(path), single_actor="duplicate")
    np.testing.assert_array_equal(dup.body[:, 1], dup.body[:, 0])
    assert sample.meta["performer"] == 1 and sample.meta["camera"] == 1 and sample.meta["actors"] == 1
    np.testing.assert_array_equal(sample.extras["video_frame"], np.arange(103))
    np.testing.assert_allclose(sample.extras["body_color"][0, 0, 0], [1036.233, 519.1677], rtol=1e-6)
    alt = ntu.to_sample(ntu.read_skeleton(path), normalization="pyskl")
    assert alt.body.shape == (103, 2, 25, 3) and alt.extras["video_frame"].shape == (103,)
    np.testing.assert_allclose(alt.body[0, 0, 1], 0, atol=1e-6)


def test_fast_and_located_parsers_agree(tmp_path):
    rng = np.random.default_rng(0)
    a, b = standing_body(rng, 30), standing_body(rng, 20, offset=(1.0, 0, 3.5))
    frames = [[("1", a[t])] + ([("2", b[t - 5])] if 5 <= t < 25 else []) for t in range(30)]
    frames.insert(3, [])  # a frame without a body is dropped
    path = write_skeleton(tmp_path / "S001C002P003R001A050.skeleton", frames, crlf=False)
    fast = ntu.read_skeleton(path)
    slow = kinect._read_located(path, path.read_text())
    assert [x.body_id for x in fast.bodies] == [x.body_id for x in slow.bodies] == ["1", "2"]
    for x, y in zip(fast.bodies, slow.bodies):
        for key in ("joints", "colors", "tracking", "frames"):
            np.testing.assert_array_equal(getattr(x, key), getattr(y, key))
    assert fast.num_frames == 31 and len(fast.video_frames) == 30 and fast.video_frames[3] == 4
    np.testing.assert_array_equal(fast.bodies[1].frames, np.arange(5, 25))


@pytest.mark.parametrize("case, content, expect", [
    ("empty", "", "empty file"),
    ("blank", "\r\n\r\n", "empty file"),
    ("garbage", "hello world\nthis is not a skeleton\n", ":1: expected the number of frames"),
    ("negative", "-3\n", "the number of frames is negative"),
])
def test_malformed_headers(tmp_path, case, content, expect):
    path = tmp_path / f"{case}.skeleton"
    path.write_text(content)
    with pytest.raises(DataFormatError, match=expect) as err:
        ntu.read_skeleton(path)
    assert str(path) in str(err.value)


def test_truncated_and_bad_lines_name_the_line(tmp_path):
    rng = np.random.default_rng(1)
    good = write_skeleton(tmp_path / "good.skeleton", [[("7", f)] for f in standing_body(rng, 4)], crlf=False)
    lines = good.read_text().splitlines()

    cut = tmp_path / "cut.skeleton"
    cut.write_text("\n".join(lines[:40]) + "\n")  # inside frame 2's joint block
    with pytest.raises(DataFormatError, match="truncated in frame 2") as err:
        ntu.read_skeleton(cut)
    assert "cut.skeleton" in str(err.value)

    short = tmp_path / "short.skeleton"
    bad = list(lines)
    bad[10] = " ".join(bad[10].split()[:11])  # joint line 7 of frame 1 (file line 11) lacks a value
    short.write_text("\n".join(bad) + "\n")
    with pytest.raises(DataFormatError, match=r"short\.skeleton:11: a joint line needs 12 numbers, got 11"):
        ntu.read_skeleton(short)

    word = tmp_path / "word.skeleton"
    bad = list(lines)
    bad[12] = bad[12].replace(bad[12].split()[2], "abc", 1)
    word.write_text("\n".join(bad) + "\n")
    with pytest.raises(DataFormatError, match=r"word\.skeleton:13: not a number"):
        ntu.read_skeleton(word)

    nan = tmp_path / "nan.skeleton"
    bad = list(lines)
    bad[20] = "nan " + " ".join(bad[20].split()[1:])
    nan.write_text("\n".join(bad) + "\n")
    with pytest.raises(DataFormatError, match=r"nan\.skeleton:21: non-finite"):
        ntu.read_skeleton(nan)

    binary = tmp_path / "binary.skeleton"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataFormatError, match="not a text file"):
        ntu.read_skeleton(binary)

    nobody = tmp_path / "nobody.skeleton"
    nobody.write_text("3\n0\n0\n0\n")
    with pytest.raises(DataFormatError, match="none of the 3 frames has a body"):
        ntu.read_skeleton(nobody)


def test_denoising_drops_short_and_spread_bodies(tmp_path):
    rng = np.random.default_rng(2)
    main = standing_body(rng, 40, sway=0.1)
    short = standing_body(rng, 11, offset=(1, 0, 3))  # <= 11 frames: dropped
    flat = standing_body(rng, 40, offset=(-1, 0, 3))
    flat[..., [0, 1]] = flat[..., [1, 0]]  # wider than tall in every frame: dropped by the spread test
    quiet = standing_body(rng, 40, offset=(2, 0, 3), sway=0.01)  # kept, less motion than main
    frames = [[("main", main[t]), ("flat", flat[t]), ("quiet", quiet[t])] + ([("short", short[t])] if t < 11 else [])
              for t in range(40)]
    seq = ntu.read_skeleton(write_skeleton(tmp_path / "S001C001P001R001A050.skeleton", frames))
    kept = ntu.denoise(seq)
    assert [b.body_id for b in kept] == ["main", "quiet"]
    joints, colors, video_frame, actors = ntu.assemble_actors(seq)
    assert actors == 2 and joints.shape == (40, 2, 25, 3)
    np.testing.assert_allclose(joints[:, 0], main[..., :3], rtol=1e-6)
    np.testing.assert_allclose(joints[:, 1], quiet[..., :3], rtol=1e-6)
    np.testing.assert_allclose(colors[:, 1], quiet[..., 5:7], rtol=1e-6)


def test_two_actor_assembly_reference_rules(tmp_path):
    rng = np.random.default_rng(3)
    a = standing_body(rng, 30, sway=0.2)  # frames 0-29, most motion: actor 1
    b = standing_body(rng, 20, offset=(1, 0, 3), sway=0.05)  # frames 29-48: overlaps actor 1 by ONE frame
    frames = [[("a", a[t])] if t < 29 else ([("a", a[t]), ("b", b[t - 29])] if t == 29 else [("b", b[t - 29])])
              for t in range(49)]
    seq = ntu.read_skeleton(write_skeleton(tmp_path / "S001C001P001R001A001.skeleton", frames))
    joints, _, video_frame, actors = ntu.assemble_actors(seq)
    # The reference's test `min(end) - max(start) <= 0` treats a one-frame overlap as none: b joins actor 1.
    assert actors == 1
    np.testing.assert_allclose(joints[30:, 0], b[1:, :, :3], rtol=1e-6)
    assert not joints[:, 1].any()


def test_reference_interval_quirk_and_exact_switch(tmp_path):
    rng = np.random.default_rng(4)
    a, b = standing_body(rng, 40, sway=0.2), standing_body(rng, 30, offset=(1, 0, 3))
    # b is absent in frames 10-14: the reference still counts its frames consecutively from frame 0.
    b_frames = [t for t in range(35) if not 10 <= t < 15]
    frames = [[("a", a[t])] + ([("b", b[b_frames.index(t)])] if t in b_frames else []) for t in range(40)]
    seq = ntu.read_skeleton(write_skeleton(tmp_path / "S001C001P001R001A050.skeleton", frames))
    ref, *_ = ntu.assemble_actors(seq)
    exact, *_ = ntu.assemble_actors(seq, exact_intervals=True)
    np.testing.assert_allclose(ref[10, 1], b[10, :, :3], rtol=1e-6)  # shifted: b's 11th frame at frame 10
    assert not exact[10:15, 1].any()
    np.testing.assert_allclose(exact[15, 1], b[10, :, :3], rtol=1e-6)


def test_center_on_spine_rezeros_absent_actor():
    joints = np.random.default_rng(5).normal(size=(6, 2, 25, 3)).astype(np.float32)
    joints[:2, 0] = 0  # actor 1 starts at frame 2
    joints[4, 1] = 0
    out = ntu.center_on_spine(joints)
    np.testing.assert_allclose(out[2, 0, 1], 0, atol=1e-6)
    np.testing.assert_allclose(out[3, 1], joints[3, 1] - joints[2, 0, 1], rtol=1e-5)
    assert not out[:2, 0].any() and not out[4, 1].any()


def test_pyskl_normalization_axes():
    rng = np.random.default_rng(6)
    joints = rng.normal(size=(8, 2, 25, 3)).astype(np.float32)
    joints[5:, 1] = 0  # person 2 present in fewer frames
    joints[:2, 0] = 0  # person 1 absent at first: it is still the main person (6 frames vs 5)
    joints[3, 0, 7] = 0  # a missing joint stays zero
    out, keep, order = ntu.pyskl_normalize(joints)
    assert keep.tolist() == [2, 3, 4, 5, 6, 7] and order.tolist() == [0, 1]
    main = out[0, 0]
    np.testing.assert_allclose(main[1], 0, atol=1e-5)
    shoulders = main[8] - main[4]
    np.testing.assert_allclose(shoulders[1:], 0, atol=1e-5)
    assert shoulders[0] > 0
    assert not out[1, 0, 7].any()
    # rigid: distances between joints are kept, across persons too
    np.testing.assert_allclose(np.linalg.norm(out[2, 0, 5] - out[2, 1, 9]),
                               np.linalg.norm(joints[4, 0, 5] - joints[4, 1, 9]), rtol=1e-5)
    assert not out[3:, 1].any()
    swapped, _, order = ntu.pyskl_normalize(joints[:, ::-1])
    assert order.tolist() == [1, 0]
    np.testing.assert_allclose(swapped, out, atol=1e-6)


@pytest.mark.peers
def test_pyskl_normalization_matches_pyskl():
    from conftest import peer_root

    root = peer_root()
    source = root / "pyskl" / "pyskl" / "datasets" / "pipelines" / "pose_related.py" if root else None
    if source is None or not source.is_file():
        pytest.skip("pyskl source not found under BHARNET_PEER_ROOT")
    text = source.read_text()
    namespace: dict = {"np": np}
    exec(text[text.index("class PreNormalize3D"):text.index("class JointToBone")]
         .replace("@PIPELINES.register_module()", ""), namespace)
    rng = np.random.default_rng(8)
    for _ in range(5):
        x = rng.normal(size=(2, 12, 25, 3)).astype(np.float32)
        x[1, 7:] = 0
        x[0, :2] = 0
        theirs = namespace["PreNormalize3D"]()(dict(keypoint=x.copy()))["keypoint"]
        ours, _, _ = ntu.pyskl_normalize(x.transpose(1, 0, 2, 3))
        np.testing.assert_allclose(ours.transpose(1, 0, 2, 3), theirs, atol=1e-5)


@pytest.mark.parametrize("name, protocol, expect", [
    ("S001C001P001R001A001", "xsub", "train"), ("S001C001P003R001A001", "xsub", "test"),
    ("S018C001P045R001A061", "xsub", "train"), ("S018C001P044R001A061", "xsub", "test"),
    ("S001C002P003R001A001", "xview", "train"), ("S001C001P001R001A001", "xview", "test"),
    ("S002C001P003R001A001", "xset", "train"), ("S001C001P001R001A001", "xset", "test"),
])
def test_splits(name, protocol, expect):
    assert ntu.split_of(name, protocol) == expect


def test_split_counts_formula():
    # The X-Sub training subjects: 20 of NTU60's 40; 53 of NTU120's 106.
    assert len(ntu.XSUB_TRAIN) == 53 and len([p for p in ntu.XSUB_TRAIN if p <= 40]) == 20
    with pytest.raises(ValueError, match="unknown NTU protocol"):
        ntu.split_of("S001C001P001R001A001", "xwhatever")


def test_prepare_reports_and_skips_bad_files(tmp_path):
    rng = np.random.default_rng(7)
    raw = tmp_path / "raw"
    raw.mkdir()
    names = ["S001C001P001R001A001", "S001C002P003R002A010", "S002C003P002R001A020", "S018C001P050R001A100"]
    for name in names:
        write_skeleton(raw / f"{name}.skeleton", [[("1", f)] for f in standing_body(rng, 25)])
    (raw / "S001C001P004R001A005.skeleton").write_text("25\n1\n")  # truncated
    (raw / "S001C001P005R001A006.skeleton").write_text("")  # empty
    missing = tmp_path / "missing.txt"
    missing.write_text("S002C003P002R001A020\n")
    report = prepare_ntu(raw, tmp_path / "ntu60.store", dataset="ntu60", missing_list=missing, workers=2,
                         progress=False)
    assert report.written == 2 and report.excluded == 1 and len(report.failed) == 2
    assert any("S001C001P004R001A005.skeleton" in msg and "truncated" in msg for _, msg in report.failed)
    assert "skipped 2 malformed" in report.format()
    store = DatasetStore(tmp_path / "ntu60.store")
    assert [str(n) for n in store.names] == names[:2]  # ntu60 leaves out setup 18 / action 100
    assert store.num_classes == 60 and store.protocols == ("xsub", "xview")
    assert store.split("xsub", "train").tolist() == [0] and store.split("xview", "train").tolist() == [1]
    assert store[1].label == 9 and store[1].body.shape == (25, 2, 25, 3)

    report = prepare_ntu(raw, tmp_path / "ntu120.store", dataset="ntu120", workers=1, progress=False)
    store = DatasetStore(tmp_path / "ntu120.store")
    assert report.written == 4 and store.protocols == ("xsub", "xset") and store.num_classes == 120
    s = store[3]
    np.testing.assert_array_equal(s.body[:, 1], s.body[:, 0])  # NTU120 duplicates a single actor
    assert "no missing-skeleton list" in report.format()
