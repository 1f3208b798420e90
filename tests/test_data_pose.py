"""MediaPipe Pose -> NTU-25: the geometry (always) and the agreement with Kinect on the real clip."""

import numpy as np
import pytest
from conftest import needs_mediapipe, require_shared

from bharnet.data.pose import SIDE_SWAP, PoseResult, ntu_from_video, pose_to_ntu
from bharnet.datasets import ntu
from bharnet.video.extract import extract_video, extract_video_parallel
from bharnet.video.hands import HandDetector

SAMPLE = "S001C001P001R001A001"
SIZE = (640, 480)


def random_person(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A Pose result in a true (not mirrored) camera image: world metres and consistent pixels."""
    world = rng.normal(0, 0.3, (33, 3)).astype(np.float32)
    image = (world[:, :2] / 0.004 + np.array([300.0, 260.0])).astype(np.float32)  # 4 mm per pixel
    return world, image


def test_mirrored_video_gives_the_same_physical_skeleton():
    """A mirror image swaps Pose's sides and negates image x: mapped with mirrored=True it must give exactly the
    skeleton of the true image mapped with mirrored=False."""
    rng = np.random.default_rng(0)
    world, image = random_person(rng)
    hands_px = rng.normal(300, 40, (2, 21, 3)).astype(np.float32)
    detected = np.array([True, True])
    true_joints, _ = pose_to_ntu(world, image, 0.004, SIZE, hands=hands_px, detected=detected)
    m_world, m_image = world.copy(), image.copy()
    m_world[:, 0] *= -1
    m_image[:, 0] = SIZE[0] - m_image[:, 0]
    m_world, m_image = m_world[SIDE_SWAP], m_image[SIDE_SWAP]  # Pose names the mirrored person's sides the other way
    m_hands = hands_px.copy()
    m_hands[..., 0] = SIZE[0] - m_hands[..., 0]
    m_hands[..., 2] *= 1  # depth is not mirrored
    mirrored_joints, _ = pose_to_ntu(m_world, m_image, 0.004, SIZE, hands=m_hands, detected=detected, mirrored=True)
    np.testing.assert_allclose(mirrored_joints, true_joints, atol=1e-5)


def test_kinect_axes_and_joint_definitions():
    rng = np.random.default_rng(1)
    world, image = random_person(rng)
    joints, colors = pose_to_ntu(world, image, 0.004, SIZE, hfov=90.0)
    # y up (Pose: down), x towards the camera's left (Pose: right), depth = f * scale
    hips = (world[23] + world[24]) / 2
    np.testing.assert_allclose(joints[0] - joints[20], [-(hips - (world[11] + world[12]) / 2)[0],
                                                        -(hips - (world[11] + world[12]) / 2)[1],
                                                        (hips - (world[11] + world[12]) / 2)[2]], atol=1e-5)
    np.testing.assert_allclose(joints[1], joints[0] + 0.57 * (joints[20] - joints[0]), atol=1e-5)
    focal = SIZE[0] / 2 / np.tan(np.radians(45))
    assert abs((joints[0, 2] - hips[2]) - focal * 0.004) < 1e-4
    np.testing.assert_allclose(colors[6], image[15])  # left wrist, in pixels
    # without detected hands, the hand tip and thumb come from Pose's index and thumb landmarks
    np.testing.assert_allclose(colors[21], image[19])
    np.testing.assert_allclose(colors[24], image[22])


def test_absent_people_stay_zero():
    rng = np.random.default_rng(2)
    people = [[PoseResult(*random_person(rng), np.ones(33, np.float32)), None] for _ in range(3)]
    people[1][0] = None
    joints, colors, present = ntu_from_video(people, SIZE)
    assert joints.shape == (3, 2, 25, 3) and present.tolist() == [[True, False], [False, False], [True, False]]
    assert not joints[1].any() and not joints[:, 1].any() and not colors[1].any()


@needs_mediapipe
def test_pose_body_agrees_with_kinect_on_real_clip():
    """The NTU clip with both a Kinect skeleton and its (mirrored) video: Pose mapped to NTU-25 must land on
    the Kinect joints that Kinect tracked, with the same bone directions, sides and roughly the same depth
    (Kinect v2 colour camera: 84 degrees)."""
    video = require_shared("ntu", "samples", f"{SAMPLE}_rgb.avi")
    seq = ntu.read_skeleton(require_shared("ntu", "samples", f"{SAMPLE}.skeleton"))
    joints, colors, video_frame, _ = ntu.assemble_actors(seq)
    detector = HandDetector()
    got = extract_video(video, detector, mirrored=True, body=True, hfov=84.0, max_frames=40)
    detector.close()
    assert got["body"].shape == (40, 1, 25, 3) and got["body_present"].all()
    keep = video_frame < 40
    pose, kinect = got["body"][video_frame[keep], 0], joints[keep, 0]
    tracked = seq.bodies[0].tracking[keep] == 2  # (T, 25): Kinect's "tracked" (not inferred) joints
    px = np.linalg.norm(got["body_color"][video_frame[keep], 0] - colors[keep, 0], axis=-1)
    trunk = [0, 1, 2, 3, 4, 8, 20]
    assert np.median(px[:, trunk][tracked[:, trunk]]) < 15, np.median(px[:, trunk])
    assert (pose[:, 4, 0] < pose[:, 8, 0]).all()  # the person's left shoulder on Kinect's -x side, as in Kinect
    bones = [(1, 0), (20, 1), (3, 20), (5, 4), (9, 8), (10, 9)]
    for child, parent in bones:
        a, b = pose[:, child] - pose[:, parent], kinect[:, child] - kinect[:, parent]
        cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
        assert np.median(cos) > 0.85, (child, parent, np.median(cos))
    depth = np.median(pose[:, 0, 2]) / np.median(kinect[:, 0, 2])
    assert 0.75 < depth < 1.3, depth


@needs_mediapipe
def test_extract_body_then_prepare_a_store(tmp_path, capsys):
    """Videos alone -> `extract-body` -> `prepare --source pose`: a store like the Kinect one."""
    from bharnet.cli import main
    from bharnet.data.store import DatasetStore

    video = require_shared("ntu", "samples", f"{SAMPLE}_rgb.avi")
    out = tmp_path / "bodies"
    assert main(["data", "extract-body", str(video), "--out", str(out), "--persons", "1", "--mirrored",
                 "--hfov", "84", "--workers", "1", "-q"]) == 0
    assert "extracted 1 video(s)" in capsys.readouterr().out
    store = tmp_path / "pose.store"
    assert main(["data", "prepare", "ntu60", "--source", "pose", "--skeletons", str(out), "--out", str(store),
                 "--workers", "1", "-q"]) == 0
    data = DatasetStore(store)
    assert len(data) == 1 and data.labels[0] == 0 and "hands" in data.fields
    body = data.frames("body", 0)
    assert body.shape[1:] == (2, 25, 3) and np.abs(body[:, 0]).sum() > 0 and not body[:, 1].any()
    np.testing.assert_allclose(body[0, 0, 1], 0, atol=1e-6)  # centred on the spine of the first frame
    # hands-only files are refused with the reason
    from bharnet.data.pose import read_body_file

    hands_only = tmp_path / "hands_only.npz"
    raw = dict(np.load(out / f"{SAMPLE}.npz"))
    np.savez(hands_only, **{k: v for k, v in raw.items() if not k.startswith("body")})
    with pytest.raises(Exception, match="extract-body"):
        read_body_file(hands_only)


@needs_mediapipe
def test_parallel_extraction_joins_the_parts(tmp_path):
    """Two processes, each on half of the clip: the first half equals the sequential run exactly, the second
    agrees closely (Pose's tracking restarts at its first frame), nothing lost or shifted at the seam."""
    video = require_shared("ntu", "samples", f"{SAMPLE}_rgb.avi")
    options = dict(mirrored=True, body=True, hfov=84.0)
    # the processes run the tracking extractor one thread each: compare with the same, in one process
    one = extract_video(video, extractor_options=dict(threaded=False), **options)
    two = extract_video_parallel(video, 2, min_chunk=40, **options)
    assert two["body"].shape == one["body"].shape == (103, 1, 25, 3)
    for key in ("landmarks", "detected", "body", "body_color", "person"):
        # exact up to the seam (the last frames of part 1 see a shorter 9-frame median of the image scale)
        np.testing.assert_array_equal(two[key][:40], one[key][:40], err_msg=key)
    gap = np.linalg.norm(two["body_color"][52:] - one["body_color"][52:], axis=-1)
    assert np.median(gap) < 5, np.median(gap)  # the second part: the same person, the same joints
    with pytest.raises(ValueError, match="one person"):
        extract_video_parallel(video, 2, max_persons=2)
