"""The 2s-AGCN / Shift-GCN NTU preprocessing against a transcription of the release's scripts."""
import numpy as np
import pytest
import reference_agcn as ref
from conftest import require_shared
from test_data_ntu import standing_body, write_skeleton

from bharnet.datasets import ntu
from bharnet.datasets.agcn import agcn_normalize, agcn_rotation


def _ours(path):
    return ntu.to_sample(ntu.read_skeleton(path), normalization="2s-agcn")


def test_real_sample_matches_the_release():
    path = require_shared("ntu", "samples", "S001C001P001R001A001.skeleton")
    sample = _ours(path)
    expected = ref.gendata_one(path)  # (3, 300, 25, 2)
    assert sample.body.shape == (300, 2, 25, 3)
    np.testing.assert_allclose(sample.body.transpose(3, 0, 2, 1), expected, atol=1e-6)
    # 103 frames, repeated from the start: output frame 103 is video frame 0 again
    assert sample.extras["video_frame"][:3].tolist() == [0, 1, 2] and sample.extras["video_frame"][103] == 0
    spine = sample.body[:, 0, 1]
    np.testing.assert_allclose(spine, 0, atol=1e-6)  # every frame centred on body 0's spine middle


def test_multi_body_files_with_gaps_match_the_release(tmp_path):
    rng = np.random.default_rng(3)
    a, b, c = standing_body(rng, 40, sway=0.01), standing_body(rng, 40, (0.8, 0, 3.2), sway=0.2), \
        standing_body(rng, 40, (-0.9, 0, 2.5), sway=0.1)
    frames = []
    for t in range(40):
        if t < 3:
            frames.append([])  # leading frames with nobody
        elif t < 12:
            frames.append([("b", b[t]), ("a", a[t]), ("c", c[t])])  # the list order is not the ID order
        elif t < 20:
            frames.append([("a", a[t])])  # b and c gone: slot 0 is a now
        elif t < 25:
            frames.append([])  # a gap in the middle
        else:
            frames.append([("c", c[t]), ("a", a[t])])
    path = write_skeleton(tmp_path / "S001C002P003R001A010.skeleton", frames)
    sample = _ours(path)
    np.testing.assert_allclose(sample.body.transpose(3, 0, 2, 1), ref.gendata_one(path), atol=1e-5)
    assert sample.label == 9 and sample.meta["preprocessing"] == "2s-agcn"


def test_long_sequences_are_cut_at_300_frames(tmp_path):
    rng = np.random.default_rng(4)
    body = standing_body(rng, 310)
    path = write_skeleton(tmp_path / "S001C001P001R001A002.skeleton", [[("a", body[t])] for t in range(310)])
    sample = _ours(path)
    np.testing.assert_allclose(sample.body.transpose(3, 0, 2, 1), ref.gendata_one(path), atol=1e-5)
    assert sample.extras["video_frame"][-1] == 299


def test_rotation_is_the_releases_and_degenerate_cases_are_left_alone():
    rng = np.random.default_rng(0)
    for _ in range(5):
        axis, angle = rng.normal(size=3), rng.uniform(0, np.pi)
        np.testing.assert_allclose(agcn_rotation(axis, angle), ref.rotation_matrix(axis, angle), atol=1e-12)
    np.testing.assert_array_equal(agcn_rotation(np.zeros(3), 1.0), np.eye(3))
    empty, source = agcn_normalize(np.zeros((10, 2, 25, 3)))
    assert not empty.any() and empty.shape == (300, 2, 25, 3)


@pytest.mark.parametrize("bad", ["2sagcn", "agcn"])
def test_unknown_normalization_is_named(bad):
    seq = ntu.SkeletonSequence("S001C001P001R001A001", "x", 1, np.zeros(1, np.int64), [])
    with pytest.raises(ValueError, match="2s-agcn"):
        ntu.to_sample(seq, normalization=bad)
