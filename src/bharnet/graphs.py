"""Skeleton layouts and their graph partitions.

A :class:`Layout` is data: joint names, the directed tree of ``(child, parent)`` edges
("inward", pointing to the root), the centre joint used by the ST-GCN partition, and the
number of dummy joints appended so that a layout can share a tensor shape with another
(the MediaPipe hand is padded from 21 to 25 joints to match the NTU body, [P] §III-F).

Adjacency convention (shared by every backbone in this package): ``A`` has shape
``(K, V, V)`` and aggregation is ``out[v] = sum_u A[k, v, u] * in[u]``.

Two partitions are provided:

* ``"spatial"`` — the 3-subset labelling of CTR-GCN / DeGCN: identity, inward, outward;
  the inward matrix has ``In[parent, child] = 1`` and every matrix is normalised by its
  column sums (zero columns stay zero).
* ``"stgcn_spatial"`` — ST-GCN's root / centripetal / centrifugal labelling over the
  1-hop neighbourhood, normalised by column sums of the 1-hop adjacency. The reference
  implementations (ST-GCN, pyskl) compute the distance to the centre joint with hops capped
  at 1, so every joint beyond one hop of the centre counts as "as far as" its neighbours and
  lands in the centripetal subset. ``exact_center_distance=True`` uses true graph distances
  instead (the ST-GCN paper's wording); the default reproduces the released code.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Layout", "get_layout", "list_layouts", "NTU_RGBD", "MEDIAPIPE_HAND", "NW_UCLA"]


@dataclass(frozen=True)
class Layout:
    """A skeleton layout.

    Attributes:
        name: registry name.
        joint_names: names of the real joints, index = joint id (0-based).
        inward: directed tree edges ``(child, parent)``, 0-based; exactly one joint (the bone
            root) has no parent.
        center: centre joint for the ST-GCN partition.
        num_dummy: zero joints appended after the real ones (self-loops only).
        extra_links: optional undirected links added to the inward/outward subsets of the
            ``spatial`` partition (not to the bone tree).
    """

    name: str
    joint_names: tuple[str, ...]
    inward: tuple[tuple[int, int], ...]
    center: int
    num_dummy: int = 0
    extra_links: tuple[tuple[int, int], ...] = field(default=())

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        children = [c for c, _ in self.inward]
        if len(set(children)) != len(children):
            raise ValueError(f"layout {self.name!r}: a joint has two parents")
        if len(self.inward) != n - 1:
            raise ValueError(f"layout {self.name!r}: a tree over {n} joints needs {n - 1} edges, "
                             f"got {len(self.inward)}")
        for c, p in self.inward + self.extra_links:
            if not (0 <= c < n and 0 <= p < n):
                raise ValueError(f"layout {self.name!r}: edge ({c}, {p}) out of range")

    @property
    def num_real_joints(self) -> int:
        return len(self.joint_names)

    @property
    def num_joints(self) -> int:
        """Joints in the tensor, dummies included."""
        return len(self.joint_names) + self.num_dummy

    @property
    def root(self) -> int:
        """The joint without a parent (its bone is zero)."""
        children = {c for c, _ in self.inward}
        return next(v for v in range(self.num_real_joints) if v not in children)

    @property
    def outward(self) -> tuple[tuple[int, int], ...]:
        return tuple((p, c) for c, p in self.inward)

    def parents(self) -> np.ndarray:
        """``parent[v]`` for every joint of the tensor; the root and dummies are their own parent."""
        parent = np.arange(self.num_joints)
        for c, p in self.inward:
            parent[c] = p
        return parent

    def bone_pairs(self) -> tuple[tuple[int, int], ...]:
        """``(v, parent(v))`` for every joint; ``bone[v] = x[v] - x[parent(v)]`` (zero at the root
        and at dummies), as the DeGCN/CTR-GCN bone feeders compute it."""
        return tuple((v, int(p)) for v, p in enumerate(self.parents()))

    # ------------------------------------------------------------------ partitions
    def adjacency(self, mode: str = "spatial", exact_center_distance: bool = False) -> np.ndarray:
        """Partitioned adjacency ``(3, V, V)`` (float32) for ``mode`` in {"spatial", "stgcn_spatial"}."""
        if mode == "spatial":
            return spatial_partition(self.num_joints, self.inward + self.extra_links)
        if mode == "stgcn_spatial":
            return stgcn_partition(self.num_joints, self.inward + self.extra_links, self.center,
                                   exact_center_distance=exact_center_distance)
        raise ValueError(f"unknown partition mode {mode!r}; expected 'spatial' or 'stgcn_spatial'")


def _edge_matrix(edges: tuple[tuple[int, int], ...] | list[tuple[int, int]], n: int) -> np.ndarray:
    a = np.zeros((n, n))
    for i, j in edges:
        a[j, i] = 1.0  # edge i -> j aggregates i into j
    return a


def _normalise_columns(a: np.ndarray) -> np.ndarray:
    deg = a.sum(0)
    inv = np.divide(1.0, deg, out=np.zeros_like(deg), where=deg > 0)
    return a * inv[None, :]


def spatial_partition(n: int, inward: tuple[tuple[int, int], ...]) -> np.ndarray:
    """3-subset ``[I, In, Out]`` partition of CTR-GCN/DeGCN, column-normalised, ``(3, n, n)``."""
    eye = np.eye(n)
    inn = _normalise_columns(_edge_matrix(inward, n))
    out = _normalise_columns(_edge_matrix([(p, c) for c, p in inward], n))
    return np.stack([eye, inn, out]).astype(np.float32)


def _hop_distance(n: int, edges: tuple[tuple[int, int], ...], cap: int | None) -> np.ndarray:
    nbr: list[list[int]] = [[] for _ in range(n)]
    for i, j in edges:
        nbr[i].append(j)
        nbr[j].append(i)
    dist = np.full((n, n), np.inf)
    for s in range(n):
        dist[s, s] = 0
        q = deque([s])
        while q:
            u = q.popleft()
            if cap is not None and dist[s, u] >= cap:
                continue
            for w in nbr[u]:
                if dist[s, w] == np.inf:
                    dist[s, w] = dist[s, u] + 1
                    q.append(w)
    return dist


def stgcn_partition(n: int, edges: tuple[tuple[int, int], ...], center: int,
                    exact_center_distance: bool = False) -> np.ndarray:
    """ST-GCN root / centripetal / centrifugal partition (max_hop 1), ``(3, n, n)``.

    Entry ``[k, j, i]`` weights joint ``i`` into joint ``j``; ``i`` goes to the centripetal
    subset when ``dist(j, centre) >= dist(i, centre)``.
    """
    hop = _hop_distance(n, edges, cap=1)
    to_center = _hop_distance(n, edges, cap=None if exact_center_distance else 1)[:, center]
    norm = _normalise_columns((hop <= 1).astype(float))
    root, close, far = np.zeros((n, n)), np.zeros((n, n)), np.zeros((n, n))
    for j in range(n):
        for i in range(n):
            if hop[j, i] == 0:
                root[j, i] = norm[j, i]
            elif hop[j, i] == 1:
                target = close if to_center[j] >= to_center[i] else far
                target[j, i] = norm[j, i]
    return np.stack([root, close, far]).astype(np.float32)


# ---------------------------------------------------------------------------- layouts
def _one_based(edges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    return tuple((c - 1, p - 1) for c, p in edges)


NTU_RGBD = Layout(
    name="ntu_rgbd",
    joint_names=("spine_base", "spine_mid", "neck", "head", "left_shoulder", "left_elbow",
                 "left_wrist", "left_hand", "right_shoulder", "right_elbow", "right_wrist",
                 "right_hand", "left_hip", "left_knee", "left_ankle", "left_foot", "right_hip",
                 "right_knee", "right_ankle", "right_foot", "spine_shoulder", "left_hand_tip",
                 "left_thumb", "right_hand_tip", "right_thumb"),
    # CTR-GCN / DeGCN edge list (hand tip -> thumb -> hand), not pyskl's (tip -> hand).
    inward=_one_based([(1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21),
                       (10, 9), (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1),
                       (18, 17), (19, 18), (20, 19), (22, 23), (23, 8), (24, 25), (25, 12)]),
    center=20,
)

_FINGERS = ("thumb", "index", "middle", "ring", "pinky")
_HAND_JOINTS = ("wrist",) + tuple(
    f"{f}_{p}" for f in _FINGERS
    for p in (("cmc", "mcp", "ip", "tip") if f == "thumb" else ("mcp", "pip", "dip", "tip")))

MEDIAPIPE_HAND = Layout(
    name="mediapipe_hand",
    joint_names=_HAND_JOINTS,
    # pyskl "handmp" tree: every finger chain hangs from the wrist, so bones are unique.
    inward=tuple((c, c - 1 if c % 4 != 1 else 0) for c in range(1, 21)),
    center=0,
    num_dummy=4,  # padded to the 25 joints of the NTU body ([P] §III-F)
)

MEDIAPIPE_HAND_PALM = Layout(
    name="mediapipe_hand_palm",
    joint_names=_HAND_JOINTS,
    inward=MEDIAPIPE_HAND.inward,
    center=0,
    num_dummy=4,
    # MediaPipe's palm links between neighbouring knuckles, as extra graph edges.
    extra_links=((5, 9), (9, 13), (13, 17)),
)

MEDIAPIPE_HAND_21 = Layout(
    name="mediapipe_hand21",
    joint_names=_HAND_JOINTS,
    inward=MEDIAPIPE_HAND.inward,  # pyskl's "handmp", unpadded: its gesture models take 21 joints
    center=0,
)

NW_UCLA = Layout(
    name="nw_ucla",
    joint_names=("hip_center", "spine", "shoulder_center", "head", "left_shoulder", "left_elbow",
                 "left_wrist", "left_hand", "right_shoulder", "right_elbow", "right_wrist",
                 "right_hand", "left_hip", "left_knee", "left_ankle", "left_foot", "right_hip",
                 "right_knee", "right_ankle", "right_foot"),
    inward=_one_based([(1, 2), (2, 3), (4, 3), (5, 3), (6, 5), (7, 6), (8, 7), (9, 3), (10, 9),
                       (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17),
                       (19, 18), (20, 19)]),
    center=2,
)

_LAYOUTS = {lay.name: lay for lay in (NTU_RGBD, MEDIAPIPE_HAND, MEDIAPIPE_HAND_PALM, MEDIAPIPE_HAND_21, NW_UCLA)}
_ALIASES = {"ntu": "ntu_rgbd", "body": "ntu_rgbd", "hand": "mediapipe_hand", "ucla": "nw_ucla",
            "handmp": "mediapipe_hand21", "nturgb+d": "ntu_rgbd"}  # pyskl's names too


def list_layouts() -> list[str]:
    return sorted(_LAYOUTS)


def get_layout(layout: str | Layout) -> Layout:
    """Look a layout up by name (``ntu_rgbd``, ``mediapipe_hand``, ``mediapipe_hand_palm``,
    ``nw_ucla``; aliases ``ntu``/``body``, ``hand``, ``ucla``) or pass a :class:`Layout` through."""
    if isinstance(layout, Layout):
        return layout
    key = _ALIASES.get(layout, layout)
    if key not in _LAYOUTS:
        raise ValueError(f"unknown skeleton layout {layout!r}; known: {', '.join(list_layouts())}")
    return _LAYOUTS[key]
