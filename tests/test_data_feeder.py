"""bharnet.data.transforms and bharnet.data.feeder against independent reference implementations of the
DeGCN/CTR-GCN feeders (``feeder_ntu`` crop/resize/rotation, ``feeder_ucla``), on stores written in tmp_path."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

import bharnet.data.feeder as feeder_module
from bharnet.data.feeder import SkeletonDataset
from bharnet.data.sample import Sample
from bharnet.data.store import DatasetStore, write_store
from bharnet.data.transforms import (
    MODALITIES,
    CropWindow,
    apply_modality,
    crop_resize,
    draw_crop,
    rotation_matrix,
    to_bone,
    to_motion,
    valid_length,
)
from bharnet.graphs import MEDIAPIPE_HAND, NTU_RGBD

WINDOW = 64

# ------------------------------------------------------------------------------ independent references

# CTR-GCN / DeGCN graph/ntu_rgb_d.py, 1-based (child, parent)
NTU_INWARD_1BASED = [(1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9), (11, 10),
                     (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18), (20, 19),
                     (22, 23), (23, 8), (24, 25), (25, 12)]


def ref_crop_resize(x: np.ndarray, begin: int, length: int, window: int) -> np.ndarray:
    """The reference ``valid_crop_resize`` after the crop: bilinear F.interpolate on (C*V*M, L)."""
    seg = torch.tensor(x[:, begin:begin + length], dtype=torch.float32)
    c, l, v, m = seg.shape
    flat = seg.permute(0, 2, 3, 1).contiguous().view(c * v * m, l)
    out = F.interpolate(flat[None, None], size=(c * v * m, window), mode="bilinear", align_corners=False)[0, 0]
    return out.contiguous().view(c, v, m, window).permute(0, 3, 1, 2).contiguous().numpy()


def ref_rotation(angles) -> np.ndarray:
    ax, ay, az = angles
    cx, sx, cy, sy, cz, sz = math.cos(ax), math.sin(ax), math.cos(ay), math.sin(ay), math.cos(az), math.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, sx], [0, -sx, cx]])
    ry = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])
    rz = np.array([[cz, sz, 0], [-sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def ref_rotate(x: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(C, T, V, M): the reference ``random_rot`` multiplies every (3, V*M) frame by the matrix."""
    c, t, v, m = x.shape
    frames = torch.tensor(x).permute(1, 0, 2, 3).reshape(t, c, v * m).double()
    out = torch.matmul(torch.tensor(matrix, dtype=torch.float64), frames)
    return out.reshape(t, c, v, m).permute(1, 0, 2, 3).numpy()


def ref_bone(x: np.ndarray, pairs_1based) -> np.ndarray:
    out = np.zeros_like(x)
    for child, parent in pairs_1based:
        out[:, :, child - 1] = x[:, :, child - 1] - x[:, :, parent - 1]
    return out


def ref_motion(x: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x)
    for t in range(x.shape[1] - 1):
        out[:, t] = x[:, t + 1] - x[:, t]
    return out


HAND_INWARD_1BASED = [(c + 1, (c - 1 if c % 4 != 1 else 0) + 1) for c in range(1, 21)]


# ------------------------------------------------------------------------------------------- stores

NTU_LENGTHS = [30, 45, 64, 77, 90, 101, 120, 58]
NTU_XSUB = ["train", "test", "train", "train", "test", "train", None, "test"]
NTU_PADDED = 5  # this sample has zero padding after its valid frames
NTU_VALID = {NTU_PADDED: 80}


def ntu_samples() -> list[tuple[Sample, dict]]:
    out = []
    for i, t in enumerate(NTU_LENGTHS):
        rng = np.random.default_rng(100 + i)
        body = rng.uniform(0.2, 1.5, (t, 2, 25, 3)).astype(np.float32)
        body += np.linspace(0, 1, t, dtype=np.float32)[:, None, None, None]  # movement in time
        if i in NTU_VALID:
            body[NTU_VALID[i]:] = 0
        hands = body[:, :, :21].copy()  # hand slot m = body person m, joints 0..20
        mask = rng.random((t, 2)) > 0.4
        mask[: t // 3, 0] = True
        out.append((Sample(f"S001C001P{i:03d}R001A{i % 4 + 1:03d}", i % 4, body, hands=hands, hand_mask=mask),
                    {"xsub": NTU_XSUB[i], "xview": "test" if i == 0 else "train"}))
    return out


@pytest.fixture(scope="module")
def ntu_items():
    return ntu_samples()


@pytest.fixture(scope="module")
def ntu_store(tmp_path_factory, ntu_items):
    path = write_store(tmp_path_factory.mktemp("ntu") / "ntu.store", ntu_items, splits=("xsub", "xview"),
                       num_classes=4)
    return DatasetStore(path)


UCLA_LENGTHS = [40, 23, 90]


def ucla_body(t: int, seed: int) -> np.ndarray:
    """(T, 1, 20, 3): noise in [0, 1) plus a trend of 1 per frame (x up, y down, z up), so the
    extremes of every coordinate lie in the first and last frame."""
    rng = np.random.default_rng(seed)
    body = rng.random((t, 1, 20, 3)) + np.arange(t)[:, None, None, None] * np.array([1.0, -1.0, 1.0])
    return (body + np.array([3.0, -7.0, 50.0])).astype(np.float32)


@pytest.fixture(scope="module")
def ucla_store(tmp_path_factory):
    items = [(Sample(f"a{i + 1:02d}_s01_e00_v01", i, ucla_body(t, i)), {"xview": "train" if i < 2 else "test"})
             for i, t in enumerate(UCLA_LENGTHS)]
    path = write_store(tmp_path_factory.mktemp("ucla") / "ucla.store", items, splits=("xview",), num_classes=10)
    return DatasetStore(path)


def chw(body_tmvc: np.ndarray) -> np.ndarray:
    """(T, M, V, C) -> (C, T, V, M)"""
    return np.ascontiguousarray(body_tmvc.transpose(3, 0, 2, 1))


# ------------------------------------------------------------------------------------------- crop_resize


@pytest.mark.parametrize("total,begin,length", [(10, 0, 10), (150, 0, 150), (64, 0, 64), (200, 17, 150),
                                                 (40, 5, 31), (300, 0, 299), (1, 0, 1)])
def test_crop_resize_matches_torch_interpolate(total, begin, length):
    rng = np.random.default_rng(total + begin)
    x = rng.standard_normal((3, total, 25, 2)).astype(np.float32)
    out = crop_resize(x, CropWindow(begin, length, WINDOW))
    assert out.shape == (3, WINDOW, 25, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out, ref_crop_resize(x, begin, length, WINDOW), atol=1e-5, rtol=0)


def test_crop_resize_same_length_is_the_crop():
    x = np.random.default_rng(0).standard_normal((3, 80, 25, 2)).astype(np.float32)
    np.testing.assert_allclose(crop_resize(x, CropWindow(9, 64, 64)), x[:, 9:73], atol=1e-6, rtol=0)


def test_crop_resize_other_window_sizes():
    x = np.random.default_rng(1).standard_normal((2, 50, 3, 1)).astype(np.float32)
    for size in (1, 7, 100):
        np.testing.assert_allclose(crop_resize(x, CropWindow(3, 40, size)), ref_crop_resize(x, 3, 40, size),
                                   atol=1e-5, rtol=0)


def test_crop_resize_linear_ramp_stays_linear():
    # a ramp resampled with align_corners=False at the centres of the output cells
    x = np.arange(10, dtype=np.float32)[None, :, None, None]
    out = crop_resize(x, CropWindow(0, 10, 5))[0, :, 0, 0]
    np.testing.assert_allclose(out, [0.5, 2.5, 4.5, 6.5, 8.5], atol=1e-6)


# ------------------------------------------------------------------------------------------- draw_crop


@pytest.mark.parametrize("valid", [1, 10, 39, 40, 63, 64, 100, 150, 300])
def test_draw_crop_test_mode_centre(valid):
    crop = draw_crop(valid, WINDOW, (0.95,))
    bias = int(0.05 * valid / 2)
    assert crop == CropWindow(bias, valid - 2 * bias, WINDOW)
    assert crop.begin + crop.length + bias == valid


def test_draw_crop_test_mode_known_values():
    assert draw_crop(300, 64, (0.95,)) == CropWindow(7, 286, 64)
    assert draw_crop(100, 64, (0.95,)) == CropWindow(2, 96, 64)
    assert draw_crop(100, 64, (0.5,)) == CropWindow(25, 50, 64)


@pytest.mark.parametrize("valid", [20, 63, 64, 65, 100, 300])
def test_draw_crop_train_mode_ranges(valid):
    rng = np.random.default_rng(valid)
    crops = [draw_crop(valid, WINDOW, (0.5, 1.0), rng) for _ in range(3000)]
    lengths = np.array([c.length for c in crops])
    begins = np.array([c.begin for c in crops])
    assert all(c.size == WINDOW for c in crops)
    assert lengths.min() >= min(64, valid) and lengths.max() <= valid
    assert (begins >= 0).all() and (begins + lengths <= valid).all()
    if valid <= 64:
        assert (lengths == valid).all() and (begins == 0).all()
    if valid == 300:
        # p ~ U(0.5, 1): lengths floor(300 p) cover [150, 300)
        assert lengths.min() < 155 and lengths.max() > 295
        assert begins.min() == 0 and begins.max() > 140
        # uniform start: mean begin ~ E[(300 - L)] / 2 = 37.5
        assert 33 < begins.mean() < 42


def test_draw_crop_respects_p_interval():
    rng = np.random.default_rng(3)
    lengths = np.array([draw_crop(300, WINDOW, (0.8, 0.9), rng).length for _ in range(2000)])
    assert lengths.min() >= 240 and lengths.max() <= 270
    assert lengths.min() < 243 and lengths.max() > 267
    # the 64-frame floor applies whatever p says
    lengths = np.array([draw_crop(100, WINDOW, (0.1, 0.2), rng).length for _ in range(200)])
    assert (lengths == 64).all()


def test_draw_crop_every_start_is_reachable():
    rng = np.random.default_rng(4)
    crops = [draw_crop(100, WINDOW, (0.7, 0.7), rng) for _ in range(3000)]
    assert {c.length for c in crops} == {70}
    assert {c.begin for c in crops} == set(range(31))  # 0 .. valid - length, both ends included


def test_draw_crop_floor_is_64_whatever_the_window():
    rng = np.random.default_rng(5)
    crops = [draw_crop(300, 32, (0.1, 0.2), rng) for _ in range(100)]
    assert {c.length for c in crops} == {64} and {c.size for c in crops} == {32}
    assert draw_crop(300, 32, (0.1, 0.2), rng, min_length=16).length < 64


def test_draw_crop_errors():
    with pytest.raises(ValueError):
        draw_crop(0, WINDOW, (0.95,))
    with pytest.raises(ValueError, match="random generator"):
        draw_crop(100, WINDOW, (0.5, 1.0))


# -------------------------------------------------------------------------------------------- rotation


@pytest.mark.parametrize("seed", range(6))
def test_rotation_matrix_matches_reference(seed):
    angles = np.random.default_rng(seed).uniform(-1.5, 1.5, size=3)
    r = rotation_matrix(angles)
    assert r.shape == (3, 3) and r.dtype == np.float32
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-6)
    assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(r, ref_rotation(angles), atol=1e-6)


def test_rotation_matrix_single_axes():
    a = 0.4
    c, s = math.cos(a), math.sin(a)
    np.testing.assert_allclose(rotation_matrix(np.array([a, 0, 0])), [[1, 0, 0], [0, c, s], [0, -s, c]], atol=1e-7)
    np.testing.assert_allclose(rotation_matrix(np.array([0, a, 0])), [[c, 0, -s], [0, 1, 0], [s, 0, c]], atol=1e-7)
    np.testing.assert_allclose(rotation_matrix(np.array([0, 0, a])), [[c, s, 0], [-s, c, 0], [0, 0, 1]], atol=1e-7)
    # the order matters: Rz @ Ry @ Rx, not Rx @ Ry @ Rz
    angles = np.array([0.3, -0.2, 0.25])
    rx, ry, rz = (ref_rotation(np.eye(3)[i] * angles[i]) for i in range(3))
    assert not np.allclose(rotation_matrix(angles), rx @ ry @ rz, atol=1e-4)


# ------------------------------------------------------------------------------------ bone / motion


def test_to_bone_ntu():
    x = np.random.default_rng(0).standard_normal((3, 6, 25, 2)).astype(np.float32)
    bone = to_bone(x, NTU_RGBD.bone_pairs())
    np.testing.assert_array_equal(bone, ref_bone(x, NTU_INWARD_1BASED))
    assert (bone[:, :, 20] == 0).all()  # joint 21 (spine shoulder) is the root
    assert (np.abs(bone[:, :, np.arange(25) != 20]).sum(axis=(0, 1, 3)) > 0).all()
    np.testing.assert_array_equal(bone[:, :, 0], x[:, :, 0] - x[:, :, 1])  # spine base - spine mid
    np.testing.assert_array_equal(bone[:, :, 21], x[:, :, 21] - x[:, :, 22])  # hand tip - thumb
    np.testing.assert_array_equal(bone[:, :, 22], x[:, :, 22] - x[:, :, 7])  # thumb - left hand


def test_to_bone_hand_with_dummies():
    x = np.random.default_rng(1).standard_normal((3, 4, 25, 2)).astype(np.float32)
    bone = to_bone(x, MEDIAPIPE_HAND.bone_pairs())
    np.testing.assert_array_equal(bone, ref_bone(x, HAND_INWARD_1BASED))
    assert (bone[:, :, 0] == 0).all() and (bone[:, :, 21:] == 0).all()
    np.testing.assert_array_equal(bone[:, :, 5], x[:, :, 5] - x[:, :, 0])  # index mcp hangs from the wrist


def test_to_motion():
    x = np.random.default_rng(2).standard_normal((3, 7, 25, 2)).astype(np.float32)
    motion = to_motion(x)
    assert (motion[:, -1] == 0).all()
    np.testing.assert_array_equal(motion[:, :-1], x[:, 1:] - x[:, :-1])
    np.testing.assert_array_equal(motion, ref_motion(x))


def test_apply_modality_every_name():
    x = np.random.default_rng(3).standard_normal((3, 5, 25, 2)).astype(np.float32)
    pairs = NTU_RGBD.bone_pairs()
    expected = {
        "joint": x,
        "bone": ref_bone(x, NTU_INWARD_1BASED),
        "joint_motion": ref_motion(x),
        "bone_motion": ref_motion(ref_bone(x, NTU_INWARD_1BASED)),
    }
    assert set(MODALITIES) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(apply_modality(x, name, pairs), value, atol=1e-6, err_msg=name)
    assert not np.allclose(expected["bone_motion"], expected["joint_motion"])
    with pytest.raises(ValueError, match="unknown modality 'velocity'"):
        apply_modality(x, "velocity", pairs)


def test_valid_length_counts_non_zero_frames():
    x = np.ones((3, 10, 25, 2), np.float32)
    x[:, 7:] = 0
    assert valid_length(x) == 7


# ---------------------------------------------------------------------------------- SkeletonDataset


def test_dataset_shapes_and_labels(ntu_store, ntu_items):
    ds = SkeletonDataset(ntu_store, protocol="xsub", split="test", streams=("body", "hand"))
    assert not ds.train
    assert ds.indices.tolist() == [1, 4, 7]
    assert len(ds) == 3
    assert ds.labels.tolist() == [1, 0, 3]
    assert ds.names == [ntu_items[i][0].name for i in (1, 4, 7)]
    for k, index in enumerate(ds.indices):
        out = ds[k]
        assert set(out) == {"body", "hand", "hand_mask", "label", "index", "name"}
        assert out["body"].shape == (3, WINDOW, 25, 2) and out["body"].dtype == torch.float32
        assert out["hand"].shape == (3, WINDOW, 25, 2) and out["hand"].dtype == torch.float32
        assert out["hand_mask"].shape == (WINDOW, 2) and out["hand_mask"].dtype == torch.float32
        assert set(out["hand_mask"].unique().tolist()) <= {0.0, 1.0}
        assert (out["hand"][:, :, 21:] == 0).all()
        assert out["hand"][:, :, :21].abs().sum() > 0
        assert out["label"].item() == ntu_items[index][0].label and out["label"].dtype == torch.int64
        assert out["index"].item() == index
        assert out["name"] == ntu_items[index][0].name


def test_train_split_only_train_samples(ntu_store):
    ds = SkeletonDataset(ntu_store, protocol="xsub", split="train")
    assert ds.train and ds.p_interval == (0.5, 1.0) and ds.rotation == pytest.approx(0.3)
    assert ds.indices.tolist() == [0, 2, 3, 5]
    torch.manual_seed(0)
    seen = {ds[i]["index"].item() for i in range(len(ds))}
    assert seen == {0, 2, 3, 5}
    assert all(NTU_XSUB[i] == "train" for i in seen)
    xview = SkeletonDataset(ntu_store, protocol="xview", split="test")
    assert xview.indices.tolist() == [0]
    everything = SkeletonDataset(ntu_store)
    assert len(everything) == 8 and not everything.train


def test_repeat(ntu_store):
    ds = SkeletonDataset(ntu_store, protocol="xsub", split="test", repeat=3)
    assert len(ds) == 9
    assert [ds[i]["index"].item() for i in range(9)] == [1, 4, 7] * 3
    torch.testing.assert_close(ds[0]["body"], ds[3]["body"])


def test_test_mode_is_centre_crop_without_rotation(ntu_store, ntu_items):
    ds = SkeletonDataset(ntu_store, streams=("body", "hand"))
    assert ds.rotation == 0.0 and ds.p_interval == (0.95,)
    for index, (sample, _) in enumerate(ntu_items):
        valid = NTU_VALID.get(index, sample.num_frames)
        bias = int(0.05 * valid / 2)
        expected = ref_crop_resize(chw(sample.body), bias, valid - 2 * bias, WINDOW)
        out = ds[index]
        np.testing.assert_allclose(out["body"].numpy(), expected, atol=1e-5, rtol=0)
        mask = ref_crop_resize(sample.hand_mask[None, :, None, :].astype(np.float32), bias, valid - 2 * bias,
                               WINDOW)[0, :, 0, :] >= 0.5
        np.testing.assert_array_equal(out["hand_mask"].numpy(), mask.astype(np.float32))
        again = ds[index]  # deterministic, whatever the torch seed
        torch.manual_seed(index + 1234)
        torch.testing.assert_close(again["body"], ds[index]["body"], rtol=0, atol=0)
        torch.testing.assert_close(again["hand"], out["hand"], rtol=0, atol=0)


def test_padded_sample_uses_valid_frames_only(ntu_store, ntu_items):
    ds = SkeletonDataset(ntu_store)
    out = ds[NTU_PADDED]["body"]
    # 80 valid frames of 101: the zero padding is never sampled
    assert (out.abs().sum(dim=(0, 2, 3)) > 0).all()
    sample = ntu_items[NTU_PADDED][0]
    full = ref_crop_resize(chw(sample.body), 2, 97, WINDOW)  # what a crop ignoring the padding would give
    assert not np.allclose(out.numpy(), full, atol=1e-3)


def test_all_zero_body_falls_back_to_the_whole_clip(tmp_path):
    body = np.zeros((40, 2, 25, 3), np.float32)
    path = write_store(tmp_path / "z.store", [Sample("zero", 0, body)])
    for split in ("test", "train"):
        torch.manual_seed(0)
        out = SkeletonDataset(path, train=split == "train")[0]["body"]
        assert out.shape == (3, WINDOW, 25, 2) and (out == 0).all()


@pytest.mark.parametrize("modality", MODALITIES)
def test_dataset_modalities(ntu_store, modality):
    joint = SkeletonDataset(ntu_store, streams=("body", "hand"))[3]
    out = SkeletonDataset(ntu_store, streams=("body", "hand"), modality=modality)[3]
    body, hand = joint["body"].numpy(), joint["hand"].numpy()
    if modality.startswith("bone"):
        body, hand = ref_bone(body, NTU_INWARD_1BASED), ref_bone(hand, HAND_INWARD_1BASED)
    if modality.endswith("motion"):
        body, hand = ref_motion(body), ref_motion(hand)
    np.testing.assert_allclose(out["body"].numpy(), body, atol=1e-6, rtol=0)
    np.testing.assert_allclose(out["hand"].numpy(), hand, atol=1e-6, rtol=0)
    torch.testing.assert_close(out["hand_mask"], joint["hand_mask"])


def test_training_transform_matches_reference(ntu_store, ntu_items, monkeypatch):
    """Crop -> resize -> rotate, with the crop and angles the feeder drew (recorded by spies)."""
    drawn = []
    real_crop, real_rotation = feeder_module.draw_crop, feeder_module.draw_rotation

    def spy_crop(*args, **kwargs):
        drawn.append(real_crop(*args, **kwargs))
        return drawn[-1]

    def spy_rotation(*args, **kwargs):
        drawn.append(real_rotation(*args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(feeder_module, "draw_crop", spy_crop)
    monkeypatch.setattr(feeder_module, "draw_rotation", spy_rotation)
    ds = SkeletonDataset(ntu_store, split="train", streams=("body", "hand"))
    assert ds.train
    torch.manual_seed(5)
    for index in range(len(ds)):
        drawn.clear()
        out = ds[index]
        crop, angles = drawn
        sample = ntu_items[index][0]
        valid = NTU_VALID.get(index, sample.num_frames)
        assert min(64, valid) <= crop.length <= valid and crop.begin + crop.length <= valid
        assert np.abs(angles).max() <= 0.3 and np.abs(angles).min() > 0
        matrix = ref_rotation(angles)
        expected = ref_rotate(ref_crop_resize(chw(sample.body), crop.begin, crop.length, WINDOW), matrix)
        np.testing.assert_allclose(out["body"].numpy(), expected, atol=1e-5, rtol=0)
        hands = np.pad(chw(sample.hands), ((0, 0), (0, 0), (0, 4), (0, 0)))
        expected = ref_rotate(ref_crop_resize(hands, crop.begin, crop.length, WINDOW), matrix)
        np.testing.assert_allclose(out["hand"].numpy(), expected, atol=1e-5, rtol=0)


def test_body_and_hands_get_the_same_crop_and_rotation(ntu_store):
    """Hands equal to the body's first 21 joints stay equal to them through the random training transform."""
    train = SkeletonDataset(ntu_store, split="train", streams=("body", "hand"))
    plain = SkeletonDataset(ntu_store, split="test", streams=("body", "hand"))
    assert train.train and not plain.train
    torch.manual_seed(11)
    differs = 0
    for _ in range(4):  # 4 epochs x 8 samples, a fresh crop and rotation each time
        for index in range(len(train)):
            out = train[index]
            torch.testing.assert_close(out["hand"][:, :, :21], out["body"][:, :, :21], atol=1e-5, rtol=0)
            assert (out["hand"][:, :, 21:] == 0).all()
            reference = plain[index]
            differs += not torch.allclose(out["body"], reference["body"], atol=1e-3)
            assert not torch.allclose(out["hand"], reference["hand"], atol=1e-3)
    assert differs == 32


def test_hands_only_stream_gets_the_same_transform(ntu_store):
    both = SkeletonDataset(ntu_store, split="train", streams=("body", "hand"))
    hand = SkeletonDataset(ntu_store, split="train", streams=("hand",))
    for index in (0, 6):
        torch.manual_seed(index)
        a = both[index]
        torch.manual_seed(index)
        b = hand[index]
        assert "body" not in b
        torch.testing.assert_close(a["hand"], b["hand"], rtol=0, atol=0)
        torch.testing.assert_close(b["hand"][:, :, :21], a["body"][:, :, :21], atol=1e-5, rtol=0)


def test_seeded_passes_are_identical(ntu_store):
    ds = SkeletonDataset(ntu_store, split="train", streams=("body", "hand"))

    def run(seed):
        torch.manual_seed(seed)
        return [ds[i] for i in range(len(ds))]

    first, second, other = run(3), run(3), run(4)
    for a, b in zip(first, second):
        for key in ("body", "hand", "hand_mask"):
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    assert all(not torch.allclose(a["body"], c["body"], atol=1e-3) for a, c in zip(first, other))
    # consecutive items of one pass draw different augmentations too
    torch.manual_seed(3)
    again = [ds[0] for _ in range(3)]
    assert not torch.allclose(again[0]["body"], again[1]["body"], atol=1e-3)


def test_dataloader_with_workers_replays(ntu_store):
    ds = SkeletonDataset(ntu_store, protocol="xsub", split="train", streams=("body", "hand"), repeat=2)

    def run(seed):
        loader = DataLoader(ds, batch_size=3, shuffle=True, num_workers=2,
                            generator=torch.Generator().manual_seed(seed))
        return list(loader)

    first, second, other = run(0), run(0), run(1)
    assert len(first) == 3 and first[0]["body"].shape == (3, 3, WINDOW, 25, 2)
    assert sorted(torch.cat([b["index"] for b in first]).tolist()) == sorted([0, 2, 3, 5] * 2)
    for a, b in zip(first, second):
        assert a["name"] == b["name"]
        for key in ("body", "hand", "hand_mask", "label", "index"):
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    body = torch.cat([b["body"] for b in first])
    assert not torch.equal(body, torch.cat([b["body"] for b in other]))
    # the two workers do not replay each other's augmentations
    by_index: dict[int, list[torch.Tensor]] = {}
    for batch in first:
        for k, index in enumerate(batch["index"].tolist()):
            by_index.setdefault(index, []).append(batch["body"][k])
    assert all(not torch.allclose(a, b, atol=1e-3) for a, b in by_index.values())


# --------------------------------------------------------------------------------------- NW-UCLA sampling


def ref_ucla_test(value: np.ndarray, window: int) -> np.ndarray:
    """CTR-GCN feeder_ucla, test path, on (T, 20, 3); returns (3, window, 20, 1)."""
    value = value.astype(np.float64) - value[0, 1, :]
    flat = value.reshape(-1, 3)
    flat = (flat - flat.min(axis=0)) / (flat.max(axis=0) - flat.min(axis=0)) * 2 - 1
    value = flat.reshape(-1, 20, 3)
    idx = np.linspace(0, value.shape[0] - 1, window).astype(int)
    return value[idx].transpose(2, 0, 1)[..., None]


def ref_ucla_train(value: np.ndarray, agx: int, agy: int, s: float, idx: np.ndarray) -> np.ndarray:
    """CTR-GCN feeder_ucla, train path with given draws (rand_view_transform: x @ (Ry Rx S))."""
    value = value.astype(np.float64) - value[0, 1, :]
    ax, ay = math.radians(agx), math.radians(agy)
    rx = np.array([[1, 0, 0], [0, math.cos(ax), math.sin(ax)], [0, -math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, -math.sin(ay)], [0, 1, 0], [math.sin(ay), 0, math.cos(ay)]])
    flat = value.reshape(-1, 3) @ (ry @ rx @ (np.eye(3) * s))
    flat = (flat - flat.min(axis=0)) / (flat.max(axis=0) - flat.min(axis=0)) * 2 - 1
    value = flat.reshape(-1, 20, 3)
    return value[np.sort(idx)].transpose(2, 0, 1)[..., None]


@pytest.mark.parametrize("window", [52, 20])
def test_ucla_test_mode(ucla_store, window):
    ds = SkeletonDataset(ucla_store, sampling="ucla", window=window)
    assert ds.body_layout.name == "nw_ucla"
    for index, t in enumerate(UCLA_LENGTHS):
        out = ds[index]["body"].numpy()
        assert out.shape == (3, window, 20, 1)
        value = ucla_store.frames("body", index)[:, 0]
        np.testing.assert_allclose(out, ref_ucla_test(value, window), atol=1e-5, rtol=0)
        # the extremes are in the first and last frame, which linspace always picks
        np.testing.assert_allclose(out.reshape(3, -1).min(axis=1), [-1, -1, -1], atol=1e-6)
        np.testing.assert_allclose(out.reshape(3, -1).max(axis=1), [1, 1, 1], atol=1e-6)
        # frames are the linspace indices: x grows by 1 per source frame, so the frame index is readable
        idx = np.linspace(0, t - 1, window).astype(int)
        x_mean = out[0, :, :, 0].mean(axis=1)  # in [-1, 1]; per source frame the mean is affine in t
        slope = (x_mean[-1] - x_mean[0]) / (idx[-1] - idx[0])
        np.testing.assert_array_equal(np.rint((x_mean - x_mean[0]) / slope), idx)


def test_ucla_centres_on_joint_2_of_frame_0(ucla_store, monkeypatch):
    """min-max scaling hides a translation, so look at what is handed to it."""
    seen = []
    real = feeder_module.minmax_normalize

    def spy(x):
        seen.append(x.copy())
        return real(x)

    monkeypatch.setattr(feeder_module, "minmax_normalize", spy)
    SkeletonDataset(ucla_store, sampling="ucla")[1]
    value = chw(ucla_store.frames("body", 1))
    np.testing.assert_allclose(seen[0], value - value[:, :1, 1:2, :1], atol=1e-5)
    assert (seen[0][:, 0, 1, 0] == 0).all()
    seen.clear()
    torch.manual_seed(0)
    SkeletonDataset(ucla_store, sampling="ucla", split="train", protocol="xview")[0]
    np.testing.assert_allclose(seen[0][:, 0, 1, 0], 0, atol=1e-6)  # rotated and scaled, still the origin
    assert np.abs(seen[0][:, 0, 0, 0]).sum() > 0.1


class _StubRng:
    """Stands in for the feeder's numpy generator with chosen draws."""

    def __init__(self, angles, scale, idx):
        self.angles, self.scale, self.idx = list(angles), scale, idx

    def integers(self, low, high):
        assert (low, high) == (-60, 61)
        return self.angles.pop(0)

    def uniform(self, low, high):
        assert (low, high) == (0.5, 1.5)
        return self.scale

    def choice(self, pool, size, replace):
        assert not replace and len(pool) == 100 * (pool.max() + 1) and size == len(self.idx)
        return self.idx.copy()


@pytest.mark.parametrize("agx,agy,s", [(30, 20, 1.2), (-60, 60, 0.5), (7, 0, 1.5), (-13, -41, 0.8)])
def test_ucla_train_mode_matches_reference(ucla_store, agx, agy, s):
    window = 52
    ds = SkeletonDataset(ucla_store, sampling="ucla", split="train", protocol="xview", window=window)
    t = UCLA_LENGTHS[0]
    idx = np.random.default_rng(5).choice(np.tile(np.arange(t), 100), size=window, replace=False)
    ds._rng = lambda item: _StubRng([agx, agy], s, idx)
    out = ds[0]["body"].numpy()
    expected = ref_ucla_train(ucla_store.frames("body", 0)[:, 0], agx, agy, s, idx)
    np.testing.assert_allclose(out, expected, atol=1e-5, rtol=0)


def test_ucla_train_mode_random(ucla_store):
    window = 52
    ds = SkeletonDataset(ucla_store, sampling="ucla", split="train", protocol="xview", window=window)
    assert ds.indices.tolist() == [0, 1]
    torch.manual_seed(0)
    outs = [ds[i % 2]["body"] for i in range(6)]
    for out in outs:
        assert out.shape == (3, window, 20, 1)
        assert out.min() >= -1 - 1e-5 and out.max() <= 1 + 1e-5
    assert not torch.allclose(outs[0], outs[2], atol=1e-3)
    test = SkeletonDataset(ucla_store, sampling="ucla", window=window)[0]["body"]
    assert not torch.allclose(outs[0], test, atol=1e-3)
    torch.manual_seed(0)
    torch.testing.assert_close(ds[0]["body"], outs[0], rtol=0, atol=0)


# ------------------------------------------------------------------------------------------------ errors


def test_hand_stream_without_hands(tmp_path):
    body = np.ones((10, 2, 25, 3), np.float32)
    path = write_store(tmp_path / "nohands.store", [Sample("a", 0, body)])
    with pytest.raises(ValueError, match="extract-hands"):
        SkeletonDataset(path, streams=("hand",))
    with pytest.raises(ValueError, match="extract-hands"):
        SkeletonDataset(path, streams=("body", "hand"))
    out = SkeletonDataset(path)[0]
    assert set(out) == {"body", "label", "index", "name"}


def test_empty_split(tmp_path):
    body = np.ones((10, 2, 25, 3), np.float32)
    path = write_store(tmp_path / "s.store", [(Sample("a", 0, body), {"xsub": "train"})], splits=("xsub",))
    with pytest.raises(ValueError, match="xsub/test is empty"):
        SkeletonDataset(path, protocol="xsub", split="test")
    assert len(SkeletonDataset(path, protocol="xsub", split="train")) == 1


def test_bad_arguments(ntu_store):
    with pytest.raises(ValueError, match="streams"):
        SkeletonDataset(ntu_store, streams=("face",))
    with pytest.raises(ValueError, match="streams"):
        SkeletonDataset(ntu_store, streams=())
    with pytest.raises(ValueError, match="sampling"):
        SkeletonDataset(ntu_store, sampling="evenly")
    with pytest.raises(ValueError, match="modality"):
        SkeletonDataset(ntu_store, modality="velocity")
    with pytest.raises(KeyError):
        SkeletonDataset(ntu_store, protocol="xset", split="train")


def test_split_all_within_a_protocol(ntu_store):
    """Regression: split='all' with a protocol raised ValueError; it means that protocol's train + test samples."""
    ds = SkeletonDataset(ntu_store, protocol="xsub", split="all")
    assert ds.indices.tolist() == [0, 1, 2, 3, 4, 5, 7]  # sample 6 is in no xsub split
    assert not ds.train and ds.rotation == 0.0


def test_hand_mask_follows_the_crop(ntu_store, ntu_items):
    """Regression: the (T, 2) mask must be cropped along T (a transposed mask was cropped over the 2 hand
    slots, came out (window, T) and raised IndexError once the crop began at frame >= 2)."""
    ds = SkeletonDataset(ntu_store, streams=("body", "hand"))
    for index, (sample, _) in enumerate(ntu_items):
        valid = NTU_VALID.get(index, sample.num_frames)
        bias = int(0.05 * valid / 2)
        out = ds[index]
        assert out["hand_mask"].shape == (WINDOW, 2)
        expected = ref_crop_resize(sample.hand_mask[None, :, None, :].astype(np.float32), bias, valid - 2 * bias,
                                   WINDOW)[0, :, 0, :] >= 0.5
        np.testing.assert_array_equal(out["hand_mask"].numpy(), expected.astype(np.float32))


def test_seeded_augmentation_depends_only_on_seed_epoch_item(ntu_store):
    """With a seed, an item's augmentation is a function of (seed, epoch, item): the same whatever the
    reading order or the process, different across epochs."""
    a = SkeletonDataset(ntu_store, split="all", train=True, seed=7)
    b = SkeletonDataset(ntu_store, split="all", train=True, seed=7)
    forward = [a[i]["body"] for i in range(len(a))]
    torch.manual_seed(123)  # the global generator plays no part
    backward = [b[i]["body"] for i in reversed(range(len(b)))][::-1]
    for x, y in zip(forward, backward):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    b.set_epoch(1)
    assert any(not torch.equal(x, b[i]["body"]) for i, x in enumerate(forward))
    c = SkeletonDataset(ntu_store, split="all", train=True, seed=8)
    assert any(not torch.equal(x, c[i]["body"]) for i, x in enumerate(forward))


@pytest.mark.parametrize("sampling", ["crop_resize", "ucla"])
def test_hand_missing_zero_blanks_the_undetected_frames_only(ntu_store, sampling):
    kw = dict(window=32, streams=("body", "hand"), split="all", sampling=sampling)
    kept = SkeletonDataset(ntu_store, **kw)
    zeroed = SkeletonDataset(ntu_store, hand_missing="zero", **kw)
    for item in range(len(kept)):
        a, b = kept[item], zeroed[item]
        seen = b["hand_mask"].numpy().astype(bool)  # (T, 2)
        assert (~seen).any() and seen.any()
        ha, hb = (x["hand"].numpy().transpose(1, 3, 0, 2) for x in (a, b))  # (T, 2, C, V)
        assert not hb[~seen].any() and np.abs(ha[~seen]).max() > 0
        np.testing.assert_array_equal(hb[seen], ha[seen])
        np.testing.assert_array_equal(a["body"].numpy(), b["body"].numpy())
    with pytest.raises(ValueError, match="hand_missing must be one of"):
        SkeletonDataset(ntu_store, hand_missing="drop", **kw)


def test_fixed_sampling_keeps_the_stored_frames(ntu_store, ntu_items):
    """``sampling="fixed"`` (2s-AGCN stores): frames as stored, cut or zero-padded, no resampling."""
    for window in (40, 130):
        ds = SkeletonDataset(ntu_store, window=window, sampling="fixed", split="all")
        for item in (0, 6):
            sample = ntu_items[item][0]
            body = sample.body.transpose(3, 0, 2, 1)  # (C, T, V, M)
            got = ds[item]["body"].numpy()
            n = min(window, body.shape[1])
            np.testing.assert_allclose(got[:, :n], body[:, :n], atol=1e-6)
            assert got.shape[1] == window and not got[:, n:].any()
    with pytest.raises(ValueError, match="sampling must be one of"):
        SkeletonDataset(ntu_store, sampling="resize")


def test_uniform_sampling_is_pyskls(ntu_store, ntu_items):
    """``sampling="uniform"`` (pyskl's UniformSample): stored frames picked, never interpolated, one per segment of
    the valid frames; the test pick is pyskl's fixed-seed one, the training pick varies with the seed; the hands
    take the body's frames."""
    from bharnet.data.transforms import uniform_sample_indices, valid_length

    test = SkeletonDataset(ntu_store, window=16, sampling="uniform", split="all", streams=("body", "hand"))
    for item in range(len(ntu_items)):
        body = ntu_items[item][0].body.transpose(3, 0, 2, 1)
        valid = valid_length(body)
        expected = uniform_sample_indices(valid, 16)
        got = test[item]
        np.testing.assert_allclose(got["body"].numpy(), body[:, expected], atol=1e-6)
        hands = ntu_items[item][0].hands.transpose(3, 0, 2, 1)[:, expected]
        np.testing.assert_allclose(got["hand"].numpy()[:, :, :21], hands, atol=1e-6)
    train = SkeletonDataset(ntu_store, window=16, sampling="uniform", split="all", train=True, seed=3)
    picks = set()
    for epoch in range(4):
        train.set_epoch(epoch)
        body = train[0]["body"].numpy()
        frames = ntu_items[0][0].body.transpose(3, 0, 2, 1)
        idx = [int(np.argmin(np.abs(frames[0, :, 0, 0] - body[0, k, 0, 0]))) for k in range(16)]
        np.testing.assert_allclose(body, frames[:, idx], atol=1e-6)  # stored frames, no rotation
        assert idx == sorted(idx)
        picks.add(tuple(idx))
    assert len(picks) > 1
