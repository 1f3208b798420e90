"""The procedural body + hand benchmark: determinism, the real pipeline's tensors, the group design."""
import numpy as np
import pytest

from bharnet.data import DatasetStore, SkeletonDataset
from bharnet.datasets import kinematics, synthetic
from bharnet.datasets.classes import SUBSETS, class_names


@pytest.mark.parametrize("name, sizes", [("fine", {"body": 10, "hand": 13, "mixed": 12}),
                                         ("basic", {"body": 7, "hand": 7, "mixed": 6})])
def test_classes_and_groups(name, sizes):
    bench = synthetic.BENCHMARKS[name]
    k = len(bench.actions)
    assert k == sum(sizes.values()) and len(set(bench.class_names)) == k
    assert sorted(sum(bench.groups.values(), ())) == list(range(k))
    assert {g: len(c) for g, c in bench.groups.items()} == sizes
    prefix = "synthetic" if name == "fine" else "synthetic_basic"
    assert class_names(prefix, k) == list(bench.class_names)
    assert SUBSETS[f"{prefix}_hand"] == bench.groups["hand"]
    hands = {bench.actions[i].hand for i in bench.groups["body"]}
    bodies = {bench.actions[i].body for i in bench.groups["hand"]}
    assert hands == {"relaxed"} and bodies == {"raise_hand"}
    mixed = [(bench.actions[i].body, bench.actions[i].hand) for i in bench.groups["mixed"]]
    arms, shapes = {a for a, _ in mixed}, {h for _, h in mixed}
    assert sorted(mixed) == sorted((a, h) for a in arms for h in shapes)  # a full factorial
    assert synthetic.ACTIONS == synthetic.BENCHMARKS[synthetic.DEFAULT_BENCHMARK].actions


@pytest.mark.parametrize("bench", ["fine", "basic"])
def test_same_seed_same_sample_other_seed_other_sample(bench):
    a = synthetic.render_sample(7, 2, 3, seed=5, benchmark=bench)
    b = synthetic.render_sample(7, 2, 3, seed=5, benchmark=bench)
    c = synthetic.render_sample(7, 2, 3, seed=6, benchmark=bench)
    for x, y in ((a.body, b.body), (a.hands, b.hands), (a.hand_mask, b.hand_mask)):
        np.testing.assert_array_equal(x, y)
    assert a.body.shape != c.body.shape or not np.array_equal(a.body, c.body)


def test_fine_performers_deviate_from_the_canonical_shape_and_basic_does_not():
    """The same class, performer and view: another repetition forms the hand shape differently (fine only)."""
    def held_right_hand(bench, repetition, noise=True):
        s = synthetic.render_sample(12, 2, 1, repetition, seed=0, benchmark=bench, noise=noise,
                                    hand_normalization="wrist")
        middle = slice(s.num_frames // 2 - 3, s.num_frames // 2 + 3)  # the held part of the gesture
        return s.hands[middle, 1].mean(0), s
    a, _ = held_right_hand("fine", 1)
    b, _ = held_right_hand("fine", 2)
    assert np.abs(a - b).max() > 0.1
    clean1, s1 = held_right_hand("fine", 1, noise=False)
    clean2, s2 = held_right_hand("fine", 2, noise=False)
    if s1.num_frames == s2.num_frames:
        np.testing.assert_allclose(clean1, clean2, atol=1e-4)


def test_sample_has_the_real_pipeline_fields():
    s = synthetic.render_sample(0, 1, 1, seed=0)
    T = s.num_frames
    assert s.name == "S001C001P001R001A001" and s.label == 0
    assert s.body.shape == (T, 1, 25, 3) and s.hands.shape == (T, 2, 21, 3) and s.hand_mask.shape == (T, 2)
    assert s.extras["body_color"].shape == (T, 1, 25, 2) and s.extras["video_frame"].shape == (T,)
    assert 45 <= T <= 110
    # NTU centring: spine mid of the first frame at the origin.
    np.testing.assert_allclose(s.body[0, 0, 1], 0, atol=1e-6)
    # hand-centric normalisation (the default): every seen wrist at the origin (x, y); palms about 1 unit long.
    palm = np.linalg.norm(s.hands[:, :, 9, :2] - s.hands[:, :, 0, :2], axis=-1)[s.hand_mask]
    assert 0.7 < np.median(palm) < 1.3
    np.testing.assert_allclose(s.hands[s.hand_mask][:, 0, :2], 0, atol=1e-6)
    u, v = s.extras["body_color"][..., 0], s.extras["body_color"][..., 1]
    assert (u > 0).all() and (u < 1920).all() and (v > 0).all() and (v < 1080).all()


def test_bone_lengths_are_constant_over_time():
    s = synthetic.render_sample(3, 4, 2, seed=1, noise=False)  # a squat: every limb moves
    body = s.body[:, 0]
    for a, b in ((8, 9), (9, 10), (16, 17), (17, 18), (0, 1)):
        length = np.linalg.norm(body[:, a] - body[:, b], axis=-1)
        assert length.std() < 1e-5 * length.mean() + 1e-6, (a, b)
    # 2.5D hands (pixels + relative depth in pixels) scale with the distance to the camera, but a ratio of two
    # of the hand's bones holds up to perspective within the hand.
    hand = s.hands[:, 1]
    ratio = np.linalg.norm(hand[:, 5] - hand[:, 6], axis=-1) / np.linalg.norm(hand[:, 9] - hand[:, 0], axis=-1)
    assert ratio.std() < 0.03 * ratio.mean()


@pytest.mark.parametrize("group, same", [("hand", "body"), ("body", "hands")])
def test_a_group_shares_one_stream_and_differs_in_the_other(group, same):
    """Without noise, a subject's hand-group clips have identical bodies and different hands; its
    body-group clips identical hand shapes (relaxed) but different bodies."""
    samples = [synthetic.render_sample(c, 2, 1, seed=0, noise=False) for c in synthetic.GROUPS[group]]
    if same == "body":
        for s in samples[1:]:
            np.testing.assert_array_equal(s.body, samples[0].body)
            assert np.abs(s.hands[:, 1] - samples[0].hands[:, 1]).max() > 0.3
    else:
        lengths = {s.num_frames for s in samples}
        assert len(lengths) > 1 or any(np.abs(s.body - samples[0].body).max() > 0.1 for s in samples[1:])


def test_hand_shapes_differ_where_they_should():
    shapes = {k: kinematics.hand_landmarks(v[None])[0] for k, v in kinematics.SHAPES.items()}
    tip_to_wrist = {k: np.linalg.norm(h[[8, 12, 16, 20]], axis=1) for k, h in shapes.items()}
    assert (tip_to_wrist["open"] > tip_to_wrist["fist"] + 0.03).all()
    assert tip_to_wrist["victory"][0] > 0.15 and tip_to_wrist["victory"][2] < 0.1
    assert np.linalg.norm(shapes["ok"][4] - shapes["ok"][8]) < 1e-6  # OK: thumb tip on the index tip
    assert np.linalg.norm(shapes["pinch"][4] - shapes["pinch"][8]) < 1e-6
    # the fine benchmark's confusable pairs differ in the finger that defines them
    assert tip_to_wrist["ok"][1] > tip_to_wrist["pinch"][1] + 0.03  # middle finger out in OK, curled in pinch
    assert tip_to_wrist["three"][2] > tip_to_wrist["victory"][2] + 0.03  # the ring finger
    assert tip_to_wrist["rock"][0] > tip_to_wrist["call"][0] + 0.03  # the index
    assert np.linalg.norm(shapes["l_sign"][4]) > np.linalg.norm(shapes["point"][4]) + 0.02  # the thumb out


def test_detection_failures_look_like_mediapipe():
    """Fine: near the real NTU clip's 75 % / 81 % (left hanging, right raised), with long occlusions."""
    masks = [synthetic.render_sample(c, s, 1, seed=0).hand_mask for c in range(0, 35, 3) for s in (1, 2, 3, 4)]
    rate = np.concatenate(masks).mean(0)
    assert 0.65 < rate[0] < 0.85 and 0.7 < rate[1] < 0.92
    longest = max(max((len(r) for r in "".join("x" if v else "." for v in m[:, k]).split("x")), default=0)
                  for m in masks for k in (0, 1))
    assert longest >= 10  # an occlusion, as the real clip's 25-frame gap
    basic = [synthetic.render_sample(c, s, 1, seed=0, benchmark="basic").hand_mask for c in (0, 7) for s in (1, 2, 3)]
    rate = np.concatenate(basic).mean(0)
    assert 0.55 < rate[0] < 0.85 and 0.6 < rate[1] < 0.95  # hanging left hand found less often
    clean = synthetic.render_sample(7, 1, 1, seed=0, noise=False)
    assert clean.hand_mask.all()


def test_wrist_normalised_store_has_the_same_bones(tmp_path):
    a = synthetic.generate_store(tmp_path / "p.store", seed=1, subjects=3, hand_normalization="palm", progress=False)
    b = synthetic.generate_store(tmp_path / "w.store", seed=1, subjects=3, progress=False)  # the default
    assert DatasetStore(b).hand_normalization == "wrist" and DatasetStore(a).hand_normalization == "palm"
    pa, pb = (SkeletonDataset(s, window=32, streams=("body", "hand"), modality="bone", split="all") for s in (a, b))
    for item in (0, 17, 100):
        np.testing.assert_allclose(pa[item]["hand"].numpy(), pb[item]["hand"].numpy(), atol=1e-5)
        np.testing.assert_array_equal(pa[item]["body"].numpy(), pb[item]["body"].numpy())
    joint = SkeletonDataset(b, window=32, streams=("hand",), split="all")[17]["hand"].numpy()
    assert np.abs(joint[:2, :, 0]).max() < 1e-6  # joint stream: every wrist at the origin (x, y)


def test_generate_store_and_splits(tmp_path):
    path = synthetic.generate_store(tmp_path / "s.store", seed=3, subjects=3, benchmark="basic", progress=False)
    store = DatasetStore(path)
    assert len(store) == 3 * 3 * 20 and store.manifest["info"]["benchmark"] == "basic"
    assert store.manifest["info"]["dataset"] == "synthetic"
    assert sorted(store.fields) == ["body", "body_color", "hand_mask", "hands", "video_frame"]
    train, test = store.split("xsub", "train"), store.split("xsub", "test")
    assert len(train) == 120 and len(test) == 60
    assert {n[9:12] for n in store.names[test]} == {"003"}
    assert len(store.split("xview", "test")) == 60
    ds = SkeletonDataset(store, protocol="xsub", split="train", window=32, streams=("body", "hand"), seed=0)
    item = ds[0]
    assert item["body"].shape == (3, 32, 25, 1) and item["hand"].shape == (3, 32, 25, 2)
    with pytest.raises(FileExistsError):
        synthetic.generate_store(path, seed=3, subjects=3, progress=False)
    with pytest.raises(ValueError, match="unknown synthetic benchmark"):
        synthetic.generate_store(tmp_path / "x.store", benchmark="hard")
    with pytest.raises(ValueError, match="hand normalization"):
        synthetic.generate_store(tmp_path / "x.store", hand_normalization="metres")


def test_bad_arguments():
    with pytest.raises(ValueError, match="label"):
        synthetic.render_sample(20, 1, 1, benchmark="basic")
    with pytest.raises(ValueError, match="view"):
        synthetic.render_sample(0, 1, 4)
    with pytest.raises(ValueError, match="subjects"):
        synthetic.generate_store("x.store", subjects=2)


def test_synth_command(tmp_path, capsys):
    from bharnet.cli import main

    out = tmp_path / "s.store"
    assert main(["data", "synth", "--out", str(out), "--subjects", "3", "--seed", "2", "-q",
                 "--hand-normalization", "wrist"]) == 0
    info = DatasetStore(out).manifest["info"]
    assert info["seed"] == 2 and info["benchmark"] == "fine" and info["hand_options"]["normalization"] == "wrist"
    assert main(["data", "synth", "--out", str(out), "--subjects", "3", "-q"]) == 1  # exists: one clear line
    assert "--overwrite" in capsys.readouterr().err
