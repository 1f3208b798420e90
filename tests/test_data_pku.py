"""PKU-MMD Part I reader, on small synthetic files written in the release's formats."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from bharnet.data.sample import DataFormatError, Sample
from bharnet.datasets.pku import (
    NUM_CLASSES,
    SPLIT_FILES,
    SPLITS,
    iter_clips,
    parse_video_id,
    read_labels,
    read_skeleton,
    read_split,
    split_of,
)


def make_body(num_frames: int, persons: int = 1, offset: float = 0.0) -> np.ndarray:
    """(T, 2, 25, 3) with a distinct value per entry, exact in float32 and in 6-decimal text."""
    t, m, v, c = np.meshgrid(np.arange(num_frames), np.arange(2), np.arange(25), np.arange(3), indexing="ij")
    body = (offset + t * 4.0 + m * 0.5 + v * 0.125 + c * 0.015625 - 1.0).astype(np.float32)
    body[:, persons:] = 0.0
    return body


def frame_line(values) -> str:
    return " ".join(f"{float(x):.6f}" for x in values)


def write_skeleton(path: Path, body: np.ndarray) -> Path:
    # the release writes a leading space on every line after the first
    rows = [frame_line(frame.reshape(-1)) for frame in body]
    path.write_text("\n ".join(rows) + "\n")
    return path


def write_labels(path: Path, rows) -> Path:
    path.write_text("".join(",".join(str(x) for x in r) + "\n" for r in rows))
    return path


# --------------------------------------------------------------------------------------------- skeleton


def test_read_skeleton_layout_person_joint_coordinate(tmp_path):
    path = tmp_path / "0002-L.txt"
    path.write_text(frame_line(range(150)) + "\n" + frame_line(range(1000, 1150)) + "\n")
    body = read_skeleton(path)
    assert body.shape == (2, 2, 25, 3) and body.dtype == np.float32
    # value i of a line is person i // 75, joint (i % 75) // 3, coordinate i % 3
    assert body[0, 0, 0].tolist() == [0.0, 1.0, 2.0]
    assert body[0, 0, 24].tolist() == [72.0, 73.0, 74.0]
    assert body[0, 1, 0].tolist() == [75.0, 76.0, 77.0]
    assert body[0, 1, 24, 2] == 149.0
    assert body[1, 1, 3, 1] == 1000 + 75 + 3 * 3 + 1


def test_read_skeleton_round_trip_single_person(tmp_path):
    body = make_body(7, persons=1)
    out = read_skeleton(write_skeleton(tmp_path / "0003-M.txt", body))
    np.testing.assert_array_equal(out, body)
    assert not out[:, 1].any() and out[:, 0].any()


def test_read_skeleton_tolerates_crlf_and_trailing_blank_lines(tmp_path):
    body = make_body(3, persons=2)
    path = tmp_path / "s.txt"
    path.write_bytes(("\r\n".join(frame_line(f.reshape(-1)) for f in body) + "\r\n\r\n  \n").encode())
    np.testing.assert_array_equal(read_skeleton(path), body)


@pytest.mark.parametrize("content", ["", "\n\n", "   \n"])
def test_read_skeleton_empty(tmp_path, content):
    path = tmp_path / "e.txt"
    path.write_text(content)
    with pytest.raises(DataFormatError, match="empty") as info:
        read_skeleton(path)
    assert info.value.path == str(path)


def test_read_skeleton_wrong_count_names_file_and_line(tmp_path):
    good = frame_line(range(150))
    path = tmp_path / "w.txt"
    path.write_text("\n".join([good, good, frame_line(range(149)), good]) + "\n")
    with pytest.raises(DataFormatError) as info:
        read_skeleton(path)
    assert str(info.value).startswith(f"{path}:3: ")
    assert "got 149" in str(info.value)
    assert info.value.line == 3


def test_read_skeleton_blank_line_between_frames(tmp_path):
    good = frame_line(range(150))
    path = tmp_path / "b.txt"
    path.write_text(f"{good}\n\n{good}\n")
    with pytest.raises(DataFormatError, match="blank line") as info:
        read_skeleton(path)
    assert info.value.line == 2


def test_read_skeleton_garbage_text(tmp_path):
    vals = [f"{x:.6f}" for x in range(150)]
    vals[40] = "abc"
    path = tmp_path / "g.txt"
    path.write_text(frame_line(range(150)) + "\n" + " ".join(vals) + "\n")
    with pytest.raises(DataFormatError) as info:
        read_skeleton(path)
    assert str(info.value).startswith(f"{path}:2: ")
    assert "'abc'" in str(info.value) and "value 41" in str(info.value)


def test_read_skeleton_not_text(tmp_path):
    path = tmp_path / "bin.txt"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataFormatError, match="not a text file"):
        read_skeleton(path)


@pytest.mark.parametrize("bad", ["nan", "NaN", "inf", "-inf", "1e39", "1e400"])
def test_read_skeleton_non_finite(tmp_path, bad):
    vals = [f"{x:.6f}" for x in range(150)]
    vals[7] = bad
    path = tmp_path / "n.txt"
    path.write_text("\n".join([frame_line(range(150))] * 3 + [" ".join(vals)]) + "\n")
    with pytest.raises(DataFormatError, match="non-finite") as info:
        read_skeleton(path)
    assert info.value.line == 4
    assert repr(bad) in str(info.value)


# ----------------------------------------------------------------------------------------------- labels


def test_read_labels_converts_label_to_zero_based(tmp_path):
    path = tmp_path / "l.txt"
    path.write_text("1,10,50,1\n 51 , 60 , 90 , 2 \n\n7,0,0,1,\n12 100 120 2\n")
    assert read_labels(path) == [(0, 10, 50, 1), (50, 60, 90, 2), (6, 0, 0, 1), (11, 100, 120, 2)]


@pytest.mark.parametrize(
    ("line", "expect"),
    [
        ("0,10,20,1", "outside 1..51"),
        (f"{NUM_CLASSES + 1},10,20,1", "outside 1..51"),
        ("3,30,20,1", "start frame 30 after end frame 20"),
        ("3,-1,20,1", "negative start"),
        ("3,10,20", "expected 4 fields"),
        ("3,10,20,1,5", "expected 4 fields"),
        ("3,,20,1", "not an integer"),
        ("3,ten,20,1", "not an integer: 'ten'"),
        ("3,10.5,20,1", "not an integer"),
    ],
)
def test_read_labels_malformed(tmp_path, line, expect):
    path = tmp_path / "l.txt"
    path.write_text(f"1,0,5,1\n2,5,9,1\n{line}\n")
    with pytest.raises(DataFormatError, match=expect) as info:
        read_labels(path)
    assert str(info.value).startswith(f"{path}:3: ")


def test_read_labels_empty(tmp_path):
    path = tmp_path / "l.txt"
    path.write_text("\n \n")
    with pytest.raises(DataFormatError, match="empty label file"):
        read_labels(path)


# ----------------------------------------------------------------------------------------------- splits

RELEASE_STYLE = "Training videos: \n0002-L, 0002-M, 0002-R, 0003-L, \nValidataion videos: \n0004-L, 0004-M\n"


def test_read_split_release_spelling(tmp_path):
    path = tmp_path / "cross-subject.txt"
    path.write_text(RELEASE_STYLE)
    assert read_split(path) == {"train": ["0002-L", "0002-M", "0002-R", "0003-L"], "test": ["0004-L", "0004-M"]}


def test_read_split_corrected_spelling_and_loose_layout(tmp_path):
    path = tmp_path / "cross-view.txt"
    path.write_text("training videos:0002-L,0003-L ,\n  0005-L\n\n  VALIDATION VIDEOS :  0002-M,0003-M,,\r\n"
                    "0002-R 0003-R, 0002-R\n")
    assert read_split(path) == {"train": ["0002-L", "0003-L", "0005-L"],
                                "test": ["0002-M", "0003-M", "0002-R", "0003-R"]}


@pytest.mark.parametrize(
    ("content", "expect", "line"),
    [
        ("Training videos:\n0002-L\n", "no 'Validataion videos:' header", None),
        ("0002-L\nTraining videos:\n0003-L\nValidation videos:\n0004-L\n", "before the 'Training videos:'", 1),
        ("Training videos:\n0002-L, 0002-X\nValidation videos:\n0004-L\n", "not a video id: '0002-X'", 2),
        ("Training videos:\n0002-L, 0003-L\nValidation videos:\n0003-L\n", "in both lists, e.g. 0003-L", None),
        ("Training videos:\n\nValidation videos:\n0003-L\n", "empty train list", None),
        ("Training videos:\n0002-L\nTraining videos:\n0003-L\n", "second 'train' header", 3),
    ],
)
def test_read_split_malformed(tmp_path, content, expect, line):
    path = tmp_path / "cross-subject.txt"
    path.write_text(content)
    with pytest.raises(DataFormatError, match=expect) as info:
        read_split(path)
    assert info.value.line == line


def test_split_of_and_constants(tmp_path):
    path = tmp_path / SPLIT_FILES["xsub"]
    path.write_text(RELEASE_STYLE)
    lists = read_split(path)
    assert SPLITS == ("xsub", "xview") and set(SPLIT_FILES) == set(SPLITS)
    assert split_of("0002-R", lists) == "train"
    assert split_of("0004-M", lists) == "test"
    assert split_of("0004-R", lists) is None
    assert parse_video_id("0002-L") == ("0002", "L")
    assert parse_video_id("0002-Q") is None and parse_video_id("0002L") is None


# ---------------------------------------------------------------------------------------------- clips


@pytest.fixture
def dataset(tmp_path):
    """Three good videos and one with a malformed skeleton (line 4); one skeleton without labels."""
    sk, lb = tmp_path / "skeleton", tmp_path / "label"
    sk.mkdir()
    lb.mkdir()
    bodies = {"0002-L": make_body(40, persons=1, offset=0.0),
              "0002-R": make_body(30, persons=2, offset=1000.0),
              "0010-M": make_body(20, persons=1, offset=2000.0)}
    for vid, body in bodies.items():
        write_skeleton(sk / f"{vid}.txt", body)
    write_labels(lb / "0002-L.txt", [(5, 0, 10, 1), (3, 12, 25, 2), (51, 30, 40, 1)])
    # second row runs past the 30-frame video: clipped; third starts beyond it: dropped
    write_labels(lb / "0002-R.txt", [(14, 2, 9, 2), (16, 20, 45, 1), (1, 31, 36, 1)])
    write_labels(lb / "0010-M.txt", [(2, 4, 6, 1)])
    bad = make_body(10)
    lines = [frame_line(f.reshape(-1)) for f in bad]
    lines[3] = " ".join(lines[3].split()[:-1])
    (sk / "0005-M.txt").write_text("\n".join(lines) + "\n")
    write_labels(lb / "0005-M.txt", [(1, 0, 5, 1)])
    write_skeleton(sk / "0007-L.txt", make_body(5))  # no label file: ignored
    return sk, lb, bodies


def test_iter_clips_cuts_instances(dataset):
    sk, lb, bodies = dataset
    errors: list[tuple[str, str]] = []
    dropped: list[tuple[str, str]] = []
    clips = list(iter_clips(sk, lb, errors=errors, dropped=dropped))
    assert all(isinstance(c, Sample) for c in clips)
    assert [c.name for c in clips] == ["0002-L_000", "0002-L_001", "0002-L_002", "0002-R_000", "0002-R_001",
                                       "0010-M_000"]
    assert [c.label for c in clips] == [4, 2, 50, 13, 15, 1]
    expected_ranges = [(0, 10), (12, 25), (30, 40), (2, 9), (20, 30), (4, 6)]
    for clip, (s, e) in zip(clips, expected_ranges):
        vid = clip.meta["video"]
        assert (clip.meta["start"], clip.meta["end"]) == (s, e)
        assert clip.body.shape == (e - s, 2, 25, 3) and clip.body.dtype == np.float32
        np.testing.assert_array_equal(clip.body, bodies[vid][s:e])
        assert clip.meta["view"] == vid[-1]
    assert clips[1].meta["confidence"] == 2
    # the two-person video keeps both persons, the others a zero second slot
    assert clips[3].body[:, 1].any() and not clips[0].body[:, 1].any()
    # clips own their data, they do not pin the whole video
    assert clips[0].body.base is None
    assert dropped == [("0002-R_002", "frames [31, 36) of a 30-frame video leave 0 < 1 frames")]


def test_iter_clips_reports_bad_file_and_continues(dataset):
    sk, lb, _ = dataset
    errors: list[tuple[str, str]] = []
    videos = {c.meta["video"] for c in iter_clips(sk, lb, errors=errors)}
    assert videos == {"0002-L", "0002-R", "0010-M"}  # 0010-M comes after the bad 0005-M
    assert len(errors) == 1
    path, message = errors[0]
    assert path == str(sk / "0005-M.txt")
    assert message.startswith(f"{sk / '0005-M.txt'}:4: ") and "got 149" in message


def test_iter_clips_reports_bad_label_file(dataset):
    sk, lb, _ = dataset
    (lb / "0002-R.txt").write_text("14,2,9,2\n99,3,4,1\n")
    errors: list[tuple[str, str]] = []
    names = [c.name for c in iter_clips(sk, lb, errors=errors)]
    assert not any(n.startswith("0002-R") for n in names) and "0010-M_000" in names
    assert [p for p, _ in errors] == [str(lb / "0002-R.txt"), str(sk / "0005-M.txt")]
    assert errors[0][1] == f"{lb / '0002-R.txt'}:2: action label 99 outside 1..51"


def test_iter_clips_min_frames_and_video_filter(dataset):
    sk, lb, _ = dataset
    dropped: list[tuple[str, str]] = []
    clips = list(iter_clips(sk, lb, min_frames=8, videos=["0002-R", "0010-M", "0005-M"], errors=[],
                            dropped=dropped))
    assert [c.name for c in clips] == ["0002-R_001"]  # 7 frames, 10 frames (clipped), 0, 2
    assert [n for n, _ in dropped] == ["0002-R_000", "0002-R_002", "0010-M_000"]
    with pytest.raises(ValueError):
        next(iter_clips(sk, lb, min_frames=0))


def test_iter_clips_warns_without_error_list_and_rejects_bad_names(dataset):
    sk, lb, _ = dataset
    write_skeleton(sk / "notes.txt", make_body(3))
    write_labels(lb / "notes.txt", [(1, 0, 2, 1)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clips = list(iter_clips(sk, lb))
    assert len(clips) == 6
    messages = sorted(str(w.message) for w in caught if issubclass(w.category, RuntimeWarning))
    assert len(messages) == 2
    assert "0005-M.txt:4:" in messages[0] and "not a PKU-MMD video id" in messages[1]
