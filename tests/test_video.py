"""The video package: threaded frame reading, MediaPipe's native logs filtered, the tracking extractor's crop
and its quality on the real NTU clip (against the Kinect skeleton and the crop extractor)."""
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import needs_mediapipe, require_shared

SAMPLE = "S001C001P001R001A001"


def _write_video(path, frames=12, size=(64, 48)):
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), (6 * i) % 250, np.uint8))
    writer.release()
    return path


def test_reader_yields_every_frame_in_order(tmp_path):
    import cv2

    from bharnet.video import FrameReader

    video = _write_video(tmp_path / "ramp.avi")
    with FrameReader(cv2.VideoCapture(str(video))) as reader:
        got = list(reader)
    assert [i for i, _ in got] == list(range(12))
    levels = [int(f.mean()) for _, f in got]  # the ramp of _write_video
    assert levels == sorted(levels) and got[0][1].shape == (48, 64, 3)
    with FrameReader(cv2.VideoCapture(str(video)), max_frames=5) as reader:
        assert [i for i, _ in reader] == [0, 1, 2, 3, 4]


def test_reader_steps_over_frames_and_extraction_records_the_lower_rate(tmp_path):
    """``step`` (``prepare videos --fps``): every k-th source frame, at its source index and with its own
    pixels; extract_video's result says the rate it was taken at."""
    from types import SimpleNamespace

    import cv2

    from bharnet.video import FrameReader
    from bharnet.video.extract import extract_video

    video = _write_video(tmp_path / "ramp.avi", frames=12)
    with FrameReader(cv2.VideoCapture(str(video))) as reader:
        every = {i: int(f.mean()) for i, f in reader}
    with FrameReader(cv2.VideoCapture(str(video)), step=3) as reader:
        got = [(i, int(f.mean())) for i, f in reader]
    assert got == [(i, every[i]) for i in (0, 3, 6, 9)] and reader.decoded == 4
    with FrameReader(cv2.VideoCapture(str(video)), step=3, max_frames=2) as reader:
        assert [i for i, _ in reader] == [0, 3]
    with pytest.raises(ValueError, match="step must be at least 1"):
        FrameReader(cv2.VideoCapture(str(video)), step=0)

    seen = []

    def extractor(rgb, guide):  # the extractor's boundary: one result per frame given to it
        seen.append(int(rgb.mean()))
        return SimpleNamespace(landmarks=np.zeros((2, 21, 3), np.float32), detected=np.zeros(2, bool),
                               score=np.zeros(2, np.float32), anchors=np.zeros((2, 2, 2), np.float32),
                               persons=[], hands_all=None, detected_all=None)

    result = extract_video(video, extractor=extractor, fps=10, raise_no_person=False)  # a 30 fps video: k = 3
    assert seen == [every[i] for i in (0, 3, 6, 9)] and result["landmarks"].shape[0] == 4
    assert float(result["fps"]) == 10.0 and int(result["frame_step"]) == 3
    full = extract_video(video, extractor=extractor, raise_no_person=False)
    assert full["landmarks"].shape[0] == 12 and int(full["frame_step"]) == 1 and float(full["fps"]) == 30.0
    with pytest.raises(ValueError, match="fps must be positive"):
        extract_video(video, extractor=extractor, fps=0)


def test_reader_drops_the_oldest_frames_for_a_slow_consumer(tmp_path):
    import cv2

    from bharnet.video import FrameReader

    video = _write_video(tmp_path / "ramp.avi", frames=40)
    with FrameReader(cv2.VideoCapture(str(video)), maxsize=2, drop=True, realtime_fps=200) as reader:
        seen = []
        for index, _ in reader:
            seen.append(index)
            time.sleep(0.03)  # six source frames per frame consumed
    assert reader.dropped > 0 and len(seen) + reader.dropped == 40
    assert seen == sorted(seen) and seen[-1] == 39  # the newest frames are the ones kept


_FILTER_SCRIPT = r"""
import os, sys
from bharnet.video import filter_native_logs
filter_native_logs(verbose=len(sys.argv) > 1)
os.write(2, b"W0000 00:00:1796171399.320186   23249 inference_feedback_manager.cc:114] Feedback manager\n")
os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
print("a python warning", file=sys.stderr)
sys.stderr.write("\rbar 1"); sys.stderr.flush()
sys.stderr.write("\rbar 2\n")
os.write(2, b"E0000 00:00:1796171399.320186   23249 calculator.cc:12] a real error\n")
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_native_log_lines_are_filtered_unless_verbose(verbose):
    args = [sys.executable, "-c", _FILTER_SCRIPT] + (["verbose"] if verbose else [])
    raw = subprocess.run(args, capture_output=True, check=True, env=dict(os.environ)).stderr
    assert b"\rbar 1\rbar 2\n" in raw  # a progress bar's partial lines are passed on as they come
    err = raw.decode()
    assert "a python warning" in err and "a real error" in err
    assert ("Feedback manager" in err) == verbose and ("XNNPACK" in err) == verbose
    assert ("absl::InitializeLog" in err) == verbose


@needs_mediapipe
def test_hand_crop_moves_only_when_a_hand_nears_its_edge():
    from bharnet.video import HandTrack

    track = HandTrack(crop_scale=2.5, margin=0.12)
    try:
        anchors = np.array([[[400, 500], [405, 520]], [[600, 500], [605, 520]]], np.float32)  # (slot, point, xy)
        track.update_box(anchors, torso=200.0)
        x0, y0, side = track.box
        assert side == 500 and abs(x0 + side / 2 - 502.5) <= 1 and track.moves == 1
        track.update_box(anchors + 30, torso=200.0)  # a small step: the crop stays
        assert track.box == (x0, y0, side) and track.moves == 1
        track.update_box(anchors + [200, 0], torso=200.0)  # the right hand near the edge: it moves
        assert track.box[0] > x0 and track.moves == 2
        track.update_box(anchors + [200, 0], torso=400.0)  # the person twice as large: it grows
        assert track.box[2] == 1000 and track.moves == 3
        track.update_box(np.full((2, 2, 2), np.nan, np.float32), torso=float("nan"))  # nobody: kept
        assert track.moves == 3
    finally:
        track.close()


def _kinect_quality(result, skeleton):
    from bharnet.video.hands import ntu_guide

    guide = ntu_guide(skeleton, len(result["detected"]))
    lms, det = result["landmarks"], result["detected"].astype(bool)
    kinect = guide.anchors[:, :, 0]
    ok = np.isfinite(kinect).all(-1) & det
    err = np.linalg.norm(lms[:, :, 0, :2] - kinect, axis=-1)[ok]
    same = det.all(1) & (np.linalg.norm(lms[:, 0, 0, :2] - lms[:, 1, 0, :2], axis=-1) < 15)
    return det.mean(axis=0), float(np.median(err)), int(same.sum())


@needs_mediapipe
def test_tracking_extractor_on_the_real_clip():
    """Pose-guided tracking finds the hands as often as the crop extractor guided by the Kinect skeleton, in
    the right slots (wrists near the Kinect wrists, never one hand in both slots)."""
    from bharnet.video.extract import extract_video

    video = require_shared("ntu", "samples", f"{SAMPLE}_rgb.avi")
    skeleton = require_shared("ntu", "samples", f"{SAMPLE}.skeleton")
    tracked = extract_video(video, mirrored=True)
    assert str(tracked["extractor"]) == "tracking" and tracked["landmarks"].shape == (103, 2, 21, 3)
    rates, median_err, same = _kinect_quality(tracked, skeleton)
    assert rates[0] >= 0.72 and rates[1] >= 0.75, rates
    assert same == 0 and median_err < 40, (same, median_err)
    guided = extract_video(video, skeleton_path=skeleton)
    rates, median_err, same = _kinect_quality(guided, skeleton)
    assert rates.min() >= 0.7 and same == 0 and median_err < 40, (rates, same, median_err)


@needs_mediapipe
def test_two_people_get_their_own_hands(tmp_path):
    """The person's strip of the clip beside a mirror copy of itself (1600 x 1080): two people, each with
    hands in their own crop."""
    import cv2

    from bharnet.video.extract import extract_video

    video = require_shared("ntu", "samples", f"{SAMPLE}_rgb.avi")
    cap = cv2.VideoCapture(str(video))
    double = tmp_path / "two.avi"
    writer = None
    for _ in range(40):
        ok, frame = cap.read()
        if not ok:
            break
        strip = frame[:, 640:1440]  # the performer stands at x ~ 1030
        pair = np.ascontiguousarray(np.concatenate([strip, strip[:, ::-1]], axis=1))
        if writer is None:
            writer = cv2.VideoWriter(str(double), cv2.VideoWriter_fourcc(*"MJPG"), 30, pair.shape[1::-1])
        writer.write(pair)
    writer.release()
    cap.release()
    got = extract_video(double, mirrored=True, max_persons=2)
    assert got["hands_all"].shape == (40, 2, 2, 21, 3)
    found = got["detected_all"].any(axis=2).mean(axis=0)  # per person: frames with a hand
    assert found.min() >= 0.5, found
    centres = [got["hands_all"][:, m][got["detected_all"][:, m]][:, 0, 0].mean() for m in range(2)]
    assert abs(centres[0] - centres[1]) > 400  # on opposite halves of the frame


@needs_mediapipe
@pytest.mark.parametrize("kind", ["tracking", "crops"])
def test_warm_up_leaves_no_state(kind):
    """`predict --stream` warms the extractor on a black frame before the source starts: what it then finds on
    the real clip is what a fresh extractor finds."""
    import cv2

    from bharnet.video import make_extractor

    video = require_shared("ntu", "samples", "S001C001P001R001A001_rgb.avi")
    cap = cv2.VideoCapture(str(video))
    frames = [cv2.cvtColor(cap.read()[1], cv2.COLOR_BGR2RGB) for _ in range(12)]
    cap.release()
    options = dict(threaded=False) if kind == "tracking" else {}
    results = []
    for warm in (False, True):
        ext = make_extractor(kind, mirrored=True, **options)
        if warm:
            ext.warm_up((frames[0].shape[1], frames[0].shape[0]))
        results.append([ext(f) for f in frames])
        ext.close()
    for fresh, warmed in zip(*results):
        np.testing.assert_array_equal(fresh.detected, warmed.detected)
        np.testing.assert_allclose(fresh.landmarks, warmed.landmarks, atol=1e-3)
    assert any(r.detected.any() for r in results[1])


class _Counting:
    """A MediaPipe solution that counts its calls."""

    def __init__(self, solution):
        self.solution, self.calls = solution, 0

    def process(self, frame):
        self.calls += 1
        return self.solution.process(frame)


@needs_mediapipe
def test_second_pose_tracker_searches_every_few_frames_while_nobody_is_there():
    import cv2

    from bharnet.video.pose import PoseTracker

    video = require_shared("ntu", "samples", "S001C001P001R001A001_rgb.avi")
    cap = cv2.VideoCapture(str(video))
    frames = [cv2.cvtColor(cap.read()[1], cv2.COLOR_BGR2RGB) for _ in range(12)]
    cap.release()
    calls = []
    for every in (1, 4):
        tracker = PoseTracker(2, max_side=960, search_every=every)
        second = tracker._trackers[1]
        counting = _Counting(second)
        tracker._trackers[1] = counting
        results = [tracker(f) for f in frames]
        tracker._trackers[1] = second
        tracker.close()
        assert all(r[0] is not None and r[1] is None for r in results)  # one person in this clip
        calls.append(counting.calls)
    assert calls == [12, 3]  # frames 0, 4, 8
    with pytest.raises(ValueError, match="search_every"):
        PoseTracker(2, search_every=0)
