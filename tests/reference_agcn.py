"""A transcription of the 2s-AGCN / Shift-GCN NTU data pipeline (kchengiva/Shift-GCN @ 20276b6,
``data_gen/ntu_gendata.py``: ``read_skeleton_filter``, ``get_nonzero_std``, ``read_xyz``; ``data_gen/preprocess.py``:
``pre_normalization``; ``data_gen/rotation.py``), for the equivalence tests only: one sample at a time, as the
release's loops treat each sample. Not part of the package.
"""
from __future__ import annotations

import math

import numpy as np

MAX_BODY_TRUE, MAX_BODY_KINECT, NUM_JOINT, MAX_FRAME = 2, 4, 25, 300


def read_xyz(path, max_body=MAX_BODY_KINECT, num_joint=NUM_JOINT):
    with open(path) as f:
        num_frame = int(f.readline())
        frames = []
        for _ in range(num_frame):
            bodies = []
            for _ in range(int(f.readline())):
                f.readline()  # body info
                joints = [[float(v) for v in f.readline().split()] for _ in range(int(f.readline()))]
                bodies.append(joints)
            frames.append(bodies)
    data = np.zeros((max_body, num_frame, num_joint, 3))
    for n, bodies in enumerate(frames):
        for m, joints in enumerate(bodies):
            for j, v in enumerate(joints):
                if m < max_body and j < num_joint:
                    data[m, n, j, :] = v[:3]
    energy = np.array([get_nonzero_std(x) for x in data])
    index = energy.argsort()[::-1][0:MAX_BODY_TRUE]
    data = data[index]
    return data.transpose(3, 1, 2, 0)  # C, T, V, M


def get_nonzero_std(s):
    index = s.sum(-1).sum(-1) != 0
    s = s[index]
    if len(s) != 0:
        return s[:, :, 0].std() + s[:, :, 1].std() + s[:, :, 2].std()
    return 0


def rotation_matrix(axis, theta):
    if np.abs(axis).sum() < 1e-6 or np.abs(theta) < 1e-6:
        return np.eye(3)
    axis = np.asarray(axis)
    axis = axis / math.sqrt(np.dot(axis, axis))
    a = math.cos(theta / 2.0)
    b, c, d = -axis * math.sin(theta / 2.0)
    aa, bb, cc, dd = a * a, b * b, c * c, d * d
    bc, ad, ac, ab, bd, cd = b * c, a * d, a * c, a * b, b * d, c * d
    return np.array([[aa + bb - cc - dd, 2 * (bc + ad), 2 * (bd - ac)],
                     [2 * (bc - ad), aa + cc - bb - dd, 2 * (cd + ab)],
                     [2 * (bd + ac), 2 * (cd - ab), aa + dd - bb - cc]])


def angle_between(v1, v2):
    if np.abs(v1).sum() < 1e-6 or np.abs(v2).sum() < 1e-6:
        return 0
    v1_u, v2_u = v1 / np.linalg.norm(v1), v2 / np.linalg.norm(v2)
    return np.arccos(np.clip(np.dot(v1_u, v2_u), -1.0, 1.0))


def gendata_one(path):
    """The (3, 300, 25, 2) float32 array gendata writes for one file, after pre_normalization."""
    data = read_xyz(path)
    fp = np.zeros((1, 3, MAX_FRAME, NUM_JOINT, MAX_BODY_TRUE), dtype=np.float32)
    fp[0, :, 0:min(data.shape[1], MAX_FRAME), :, :] = data[:, :MAX_FRAME]
    return pre_normalization(fp)[0]


def pre_normalization(data, zaxis=(0, 1), xaxis=(8, 4)):
    N, C, T, V, M = data.shape
    s = np.transpose(data, [0, 4, 2, 3, 1]).copy()  # N, M, T, V, C
    for i_s, skeleton in enumerate(s):
        for i_p, person in enumerate(skeleton):
            if person.sum() == 0:
                continue
            if person[0].sum() == 0:
                index = (person.sum(-1).sum(-1) != 0)
                tmp = person[index].copy()
                person *= 0
                person[:len(tmp)] = tmp
            for i_f, frame in enumerate(person):
                if frame.sum() == 0:
                    if person[i_f:].sum() == 0:
                        rest = len(person) - i_f
                        num = int(np.ceil(rest / i_f))
                        pad = np.concatenate([person[0:i_f] for _ in range(num)], 0)[:rest]
                        s[i_s, i_p, i_f:] = pad
                        break
    for i_s, skeleton in enumerate(s):
        if skeleton.sum() == 0:
            continue
        main_body_center = skeleton[0][:, 1:2, :].copy()
        for i_p, person in enumerate(skeleton):
            if person.sum() == 0:
                continue
            mask = (person.sum(-1) != 0).reshape(T, V, 1)
            s[i_s, i_p] = (s[i_s, i_p] - main_body_center) * mask
    for axis_joints, target in ((zaxis, [0, 0, 1]), (xaxis, [1, 0, 0])):
        for i_s, skeleton in enumerate(s):
            if skeleton.sum() == 0:
                continue
            if target == [0, 0, 1]:
                v = skeleton[0, 0, axis_joints[1]] - skeleton[0, 0, axis_joints[0]]
            else:
                v = skeleton[0, 0, axis_joints[0]] - skeleton[0, 0, axis_joints[1]]
            matrix = rotation_matrix(np.cross(v, target), angle_between(v, target))
            for i_p, person in enumerate(skeleton):
                if person.sum() == 0:
                    continue
                for i_f, frame in enumerate(person):
                    if frame.sum() == 0:
                        continue
                    for i_j, joint in enumerate(frame):
                        s[i_s, i_p, i_f, i_j] = np.dot(matrix, joint)
    return np.transpose(s, [0, 4, 2, 3, 1])
