import numpy as np
import pytest

from bharnet.graphs import MEDIAPIPE_HAND, MEDIAPIPE_HAND_PALM, NTU_RGBD, NW_UCLA, Layout, get_layout, stgcn_partition


@pytest.mark.parametrize("layout", [NTU_RGBD, MEDIAPIPE_HAND, MEDIAPIPE_HAND_PALM, NW_UCLA])
def test_spatial_partition_definition(layout):
    A = layout.adjacency("spatial")
    v = layout.num_joints
    assert A.shape == (3, v, v) and A.dtype == np.float32
    assert np.array_equal(A[0], np.eye(v))
    edges = layout.inward + layout.extra_links
    for k, pairs in ((1, edges), (2, [(p, c) for c, p in edges])):
        binary = np.zeros((v, v))
        for src, dst in pairs:
            binary[dst, src] = 1  # src is aggregated into dst
        assert np.array_equal(A[k] > 0, binary > 0)
        col = A[k].sum(0)
        assert np.allclose(col[col > 0], 1.0)  # column-normalised


def test_ntu_layout_matches_ctr_gcn_edges():
    # 1-based (child, parent) of the CTR-GCN/DeGCN list: hand tip -> thumb -> hand
    one_based = {(c + 1, p + 1) for c, p in NTU_RGBD.inward}
    assert {(22, 23), (23, 8), (24, 25), (25, 12), (1, 2), (2, 21)} <= one_based
    assert NTU_RGBD.root == 20 and NTU_RGBD.num_joints == 25


def test_hand_layout_is_padded_tree():
    assert MEDIAPIPE_HAND.num_real_joints == 21 and MEDIAPIPE_HAND.num_joints == 25
    A = MEDIAPIPE_HAND.adjacency("spatial")
    assert not A[1:, 21:, :].any() and not A[1:, :, 21:].any()  # dummies only have self-loops
    parents = MEDIAPIPE_HAND.parents()
    assert [parents[j] for j in (1, 5, 9, 13, 17)] == [0] * 5  # every finger hangs from the wrist
    assert parents[8] == 7 and parents[4] == 3
    assert all(parents[d] == d for d in range(21, 25))


def test_bone_pairs_give_one_zero_bone_per_real_root():
    for layout in (NTU_RGBD, MEDIAPIPE_HAND, NW_UCLA):
        pairs = layout.bone_pairs()
        assert len(pairs) == layout.num_joints
        selfs = [v for v, p in pairs if v == p]
        assert selfs == [layout.root] + list(range(layout.num_real_joints, layout.num_joints))


def test_stgcn_partition_columns_and_subsets():
    A = NTU_RGBD.adjacency("stgcn_spatial")
    hop1 = (A.sum(0) > 0)
    # root subset is the diagonal; every neighbour lands in exactly one of the other two subsets
    assert np.count_nonzero(A[0]) == 25 and np.allclose(np.diag(A[0]), A[0].sum(0))
    assert not np.logical_and(A[1] > 0, A[2] > 0).any()
    assert hop1.sum() == 25 + 2 * 24
    assert np.allclose(A.sum(0).sum(0), 1.0)  # columns of the 1-hop adjacency are normalised


def test_stgcn_partition_center_distance_switch():
    # chain 0-1-2-3, centre 0. Aggregating joint 3 into joint 2 moves away from the centre
    # (centrifugal); with hop distances capped at 1, as the released code computes them, joints 2
    # and 3 are both "infinitely" far and the link counts as centripetal.
    edges = ((1, 0), (2, 1), (3, 2))
    capped, exact = stgcn_partition(4, edges, 0), stgcn_partition(4, edges, 0, exact_center_distance=True)
    assert capped[1, 2, 3] > 0 and capped[2, 2, 3] == 0
    assert exact[2, 2, 3] > 0 and exact[1, 2, 3] == 0
    assert exact[1, 3, 2] > 0  # and 2 into 3 moves towards it


def test_layout_validation_and_lookup():
    with pytest.raises(ValueError, match="two parents"):
        Layout("bad", ("a", "b", "c"), ((1, 0), (1, 2)), 0)
    with pytest.raises(ValueError, match="unknown skeleton layout"):
        get_layout("coco")
    assert get_layout("hand") is MEDIAPIPE_HAND
