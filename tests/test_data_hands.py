"""Hand post-processing (always) and MediaPipe extraction on real video (when MediaPipe is installed)."""

import numpy as np
import pytest
from conftest import needs_mediapipe, require_shared

from bharnet.data import hands
from bharnet.data.sample import DataFormatError, Sample
from bharnet.datasets import ntu
from bharnet.video.extract import extract_dataset, extract_video, parse_shard, shard_items
from bharnet.video.hands import HandDetector, assign_hands, ntu_guide

SAMPLE = "S001C001P001R001A001"


def fake_hand(x: float, y: float, size: float = 10.0) -> np.ndarray:
    """(21, 3) hand with the wrist at (x, y) and the middle knuckle (landmark 9) ``size`` above it."""
    xyz = np.zeros((21, 3), np.float32)
    xyz[:, 0] = x + np.linspace(-2, 2, 21)
    xyz[:, 1] = y - np.linspace(0, 2 * size, 21)
    xyz[0] = (x, y, 0)
    xyz[9] = (x, y - size, -1)
    return xyz


def test_interpolate_missing():
    lm = np.zeros((6, 2, 21, 3), np.float32)
    det = np.zeros((6, 2), bool)
    lm[1, 0], lm[4, 0] = 1.0, 4.0
    det[1, 0] = det[4, 0] = True
    out = hands.interpolate_missing(lm, det)
    np.testing.assert_allclose(out[:, 0, 5, 2], [1, 1, 2, 3, 4, 4])  # held at the ends, linear between
    assert not out[:, 1].any()  # never detected: zero


def test_normalize_hands_palm_units():
    lm = np.zeros((3, 2, 21, 3), np.float32)
    det = np.array([[False, True], [True, True], [False, False]])
    lm[0, 1] = fake_hand(100, 200, size=20)
    lm[1, 0] = fake_hand(50, 200, size=20)
    lm[1, 1] = fake_hand(110, 200, size=20)
    out = hands.normalize_hands(lm, det, "palm")
    np.testing.assert_allclose(out[0, 1, 0], [0, 0, 0], atol=1e-6)  # origin: first detected wrist
    np.testing.assert_allclose(out[1, 0, 0, :2], [-2.5, 0], atol=1e-6)  # 50 px left = 2.5 palms
    np.testing.assert_allclose(np.linalg.norm(out[1, 1, 9, :2] - out[1, 1, 0, :2]), 1.0, rtol=1e-6)
    assert not out[2].any()
    np.testing.assert_allclose(hands.normalize_hands(lm, det, "none"), lm)
    np.testing.assert_allclose(hands.normalize_hands(lm, det, "image", (1920, 1080))[1, 0, 0, 0], -50 / 1080,
                               rtol=1e-6)
    with pytest.raises(ValueError, match="hand normalization"):
        hands.normalize_hands(lm, det, "metres")


def test_normalize_hands_pyskl_2d_maps_each_slots_box_to_the_unit_square():
    from bharnet.data.transforms import prenormalize_2d

    lm = np.zeros((4, 2, 21, 3), np.float32)
    det = np.array([[True, False], [True, True], [False, True], [True, False]])
    lm[0, 0], lm[1, 0], lm[3, 0] = fake_hand(100, 200, 40), fake_hand(160, 260, 40), fake_hand(130, 230, 40)
    lm[1, 1], lm[2, 1] = fake_hand(900, 500, 60), fake_hand(950, 520, 60)
    lm[2, 0] = fake_hand(5000, 5000)  # an undetected (interpolated) frame does not widen the box
    out = hands.normalize_hands(lm, det, "pyskl-2d")
    for slot in (0, 1):
        seen = out[det[:, slot], slot, :, :2]
        np.testing.assert_allclose([seen.min(), seen.max()], [-1, 1], atol=1e-5)
        np.testing.assert_allclose(out[det[:, slot], slot, :, :2],
                                   prenormalize_2d(lm[det[:, slot], slot, :, :2]), atol=1e-6)  # pyskl's own rule
    width = lm[det[:, 0], 0, :, 0].max() - lm[det[:, 0], 0, :, 0].min()
    np.testing.assert_allclose(out[0, 0, 9, 2], -1 * 2 / width, rtol=1e-5)  # z scaled like x
    assert not out[0, 1].any() and not out[3, 1].any()  # frames with no hand in the slot stay zero


def test_normalize_hands_wrist_centres_every_hand_and_keeps_the_bones():
    rng = np.random.default_rng(0)
    lm = np.zeros((4, 2, 21, 3), np.float32)
    det = np.array([[True, True], [True, False], [False, True], [False, False]])
    for t, slot in np.argwhere(det):
        lm[t, slot] = fake_hand(100 + 40 * t + 300 * slot, 200 - 10 * t, size=20)
        lm[t, slot, :, :2] += rng.normal(0, 1, (21, 2))
    out = hands.normalize_hands(lm, det, "wrist")
    palm = hands.normalize_hands(lm, det, "palm")
    np.testing.assert_allclose(out[det][:, 0], 0, atol=1e-6)  # every seen hand's wrist at the origin
    np.testing.assert_allclose(out[det][:, :, 2], palm[det][:, :, 2], atol=1e-6)  # z: already wrist-relative
    assert not out[~det].any()  # unseen hands stay zero
    # same palm unit, so each hand's shape (and every bone) is the palm normalisation's
    np.testing.assert_allclose(out[det] - out[det][:, :1], palm[det] - palm[det][:, :1], atol=1e-5)
    np.testing.assert_allclose(np.median(np.linalg.norm(out[det][:, 9, :2], axis=-1)),
                               np.median(np.linalg.norm(palm[det][:, 9, :2] - palm[det][:, 0, :2], axis=-1)), rtol=1e-5)


def test_assign_hands_one_to_one():
    anchors = np.array([[[0, 0], [0, -10]], [[100, 0], [100, -10]]], np.float32)
    left, right = fake_hand(2, 0), fake_hand(97, 0)
    assert assign_hands([right, left], anchors, 50) == (1, 0)
    assert assign_hands([left], anchors, 50) == (0, -1)
    # a hand between the anchors goes to one slot only, never both
    assert assign_hands([fake_hand(45, 0)], anchors, 60) == (0, -1)
    assert assign_hands([fake_hand(300, 0)], anchors, 50) == (-1, -1)  # too far: rejected
    unknown = anchors.copy()
    unknown[0] = np.nan  # no guide for the left hand
    assert assign_hands([left, right], unknown, 50) == (-1, 1)
    assert assign_hands([], anchors, 50) == (-1, -1)


def test_save_load_attach(tmp_path):
    frames = 10
    lm = np.zeros((frames, 2, 21, 3), np.float32)
    det = np.zeros((frames, 2), bool)
    for t in (2, 6):
        lm[t, 0] = fake_hand(100 + t, 300)
        det[t, 0] = True
    result = dict(landmarks=lm, detected=det, score=det.astype(np.float32), anchors=np.zeros((frames, 2, 2, 2)),
                  person=np.ones(frames, bool), image_size=np.array([1920, 1080]), fps=np.float32(30),
                  guide=np.asarray("kinect"))
    path = tmp_path / "v.npz"
    hands.save_hands(path, result)
    assert [p.name for p in tmp_path.iterdir()] == ["v.npz"]  # no temporary file left behind
    # the body kept video frames 1, 2, 4 and 6 (frames without a body are dropped by the NTU reader)
    sample = Sample("v", 0, np.ones((4, 2, 25, 3)), extras=dict(video_frame=np.array([1, 2, 4, 6])))
    hands.attach_hands(sample, path, normalization="none")
    assert sample.hands.shape == (4, 2, 21, 3)
    np.testing.assert_array_equal(sample.hand_mask[:, 0], [False, True, False, True])
    np.testing.assert_allclose(sample.hands[:, 0, 0, 0], [102, 102, 104, 106])  # held, detected, interpolated
    assert not sample.hands[:, 1].any() and sample.meta["hands_detected"] == [2, 0]


def test_load_hands_errors(tmp_path):
    with pytest.raises(DataFormatError, match="no hand file"):
        hands.load_hands(tmp_path / "missing.npz")
    (tmp_path / "garbage.npz").write_bytes(b"not a zip")
    with pytest.raises(DataFormatError, match="not a readable hand file"):
        hands.load_hands(tmp_path / "garbage.npz")
    np.savez(tmp_path / "partial.npz", landmarks=np.zeros((3, 2, 21, 3)))
    with pytest.raises(DataFormatError, match="lacks 'detected'"):
        hands.load_hands(tmp_path / "partial.npz")
    # an object array (a pickle inside the npz) is refused, not unpickled
    np.savez(tmp_path / "pickled.npz", landmarks=np.array([object()], dtype=object))
    with pytest.raises(DataFormatError, match="not a readable hand file"):
        hands.load_hands(tmp_path / "pickled.npz")


def test_shards_are_disjoint_and_cover():
    items = [f"v{i:03d}" for i in range(23)]
    parts = [shard_items(items[::-1], (k, 4)) for k in range(1, 5)]
    assert sorted(sum(parts, [])) == items
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert parts[1] == shard_items(items, (2, 4))  # independent of the listing order
    assert parse_shard("3/16") == (3, 16)
    for bad in ("0/4", "5/4", "a/b", "3"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(bad)


def test_ntu_guide_uses_actor_colour_coordinates():
    path = require_shared("ntu", "samples", f"{SAMPLE}.skeleton")
    guide = ntu_guide(path)
    seq = ntu.read_skeleton(path)
    assert guide.anchors.shape == (103, 2, 2, 2) and guide.source == "kinect"
    np.testing.assert_allclose(guide.anchors[0, 1, 1], seq.bodies[0].colors[0, 11])  # right hand joint
    np.testing.assert_allclose(guide.anchors[0, 0, 0], seq.bodies[0].colors[0, 6])  # left wrist
    assert 100 < guide.scale[0] < 200  # torso length in pixels at ~3.7 m


@needs_mediapipe
def test_real_clip_extraction(tmp_path):
    video = require_shared("ntu", "samples", f"{SAMPLE}_rgb.avi")
    skeleton = require_shared("ntu", "samples", f"{SAMPLE}.skeleton")
    report = extract_dataset([video], tmp_path, skeleton_dir=skeleton.parent, workers=1, progress=False)
    assert report.done == 1 and not report.failed and report.frames == 103
    data = hands.load_hands(tmp_path / f"{SAMPLE}.npz")
    rate = data["detected"].mean(axis=0)
    assert rate.min() > 0.5, rate  # measured 0.75 / 0.81 on this clip
    guide = ntu_guide(skeleton)
    for slot in range(2):  # each detected hand lies near its own Kinect wrist (within a torso length)
        det = data["detected"][:, slot]
        gap = np.linalg.norm(data["landmarks"][det, slot, 0, :2] - guide.anchors[det, slot, 0], axis=-1)
        assert np.median(gap) < guide.scale[0], (slot, np.median(gap))
    # the right hand brings the cup to the mouth: higher in the image than the left hand hanging down
    assert np.median(data["landmarks"][data["detected"][:, 1], 1, 0, 1]) < \
        np.median(data["landmarks"][data["detected"][:, 0], 0, 0, 1])
    again = extract_dataset([video], tmp_path, skeleton_dir=skeleton.parent, workers=1, progress=False)
    assert again.skipped == 1 and again.done == 0  # a rerun does no work twice


@needs_mediapipe
def test_video_without_person_and_undecodable_video(tmp_path):
    import cv2

    empty = tmp_path / "empty_room.avi"
    writer = cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"MJPG"), 30, (320, 240))
    for i in range(8):
        writer.write(np.full((240, 320, 3), 40 + 10 * i, np.uint8))
    writer.release()
    detector = HandDetector()
    with pytest.raises(hands.NoPersonError, match="no person found"):
        extract_video(empty, detector)
    broken = tmp_path / "broken.avi"
    broken.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(hands.VideoError, match="broken.avi"):
        extract_video(broken, detector)
    with pytest.raises(hands.VideoError, match="no such video"):
        extract_video(tmp_path / "absent.avi", detector)
    detector.close()
    out = tmp_path / "out"
    report = extract_dataset([empty, broken], out, workers=1, progress=False)
    assert report.no_person == [str(empty)] and len(report.failed) == 1 and "broken.avi" in report.failed[0][1]
    assert (out / "empty_room.npz").is_file() and not (out / "broken.npz").exists()
    log = (out / "failures.log").read_text()
    assert "broken.avi" in log and "no person" in log


@needs_mediapipe
def test_pose_guide_agrees_with_kinect_on_mirrored_video():
    """Without the skeleton file, MediaPipe Pose guides the crops. NTU's colour video is a mirror image:
    with mirrored=True the slots agree with the Kinect-guided ones (the same physical hands)."""
    video = require_shared("ntu", "samples", f"{SAMPLE}_rgb.avi")
    skeleton = require_shared("ntu", "samples", f"{SAMPLE}.skeleton")
    detector = HandDetector()
    kinect = extract_video(video, detector, skeleton_path=skeleton, max_frames=30)
    pose = extract_video(video, detector, mirrored=True, max_frames=30)
    detector.close()
    assert pose["guide"] == "pose" and pose["person"].all() and pose["landmarks"].shape[0] == 30
    both = kinect["detected"] & pose["detected"]
    assert both.sum() >= 15, both.sum(axis=0)
    gap = np.linalg.norm(kinect["landmarks"][..., 0, :2] - pose["landmarks"][..., 0, :2], axis=-1)[both]
    assert np.median(gap) < 20, np.median(gap)  # same hands in the same slots (swapped slots: ~150 px)
