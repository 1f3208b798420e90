"""bharnet.datasets.pyskl: the pyskl / mmaction2 annotation pickle, and its restricted unpickler."""
from __future__ import annotations

import io
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from bharnet.data.sample import DataFormatError, Sample
from bharnet.datasets import pyskl


class _Reduce:
    """Pickles as ``fn(*args)`` (then ``BUILD state``): how a file names any callable it likes."""

    def __init__(self, fn, args, state=None):
        self.fn, self.args, self.state = fn, args, state

    def __reduce__(self):
        return (self.fn, self.args) if self.state is None else (self.fn, self.args, self.state)


def _ann(name="S001C001P001R001A001", label=0, m=2, t=5, v=25, c=3, dtype=np.float32, seed=0, **extra):
    rng = np.random.default_rng(seed)
    kp = rng.standard_normal((m, t, v, c)).astype(dtype)
    return {"frame_dir": name, "label": label, "total_frames": t, "keypoint": kp, **extra}


def _data(n=3, dtype=np.float32):
    anns = [_ann(f"S001C00{i}P001R001A00{i}", label=i, t=4 + i, dtype=dtype, seed=i) for i in range(n)]
    split = {"xsub_train": [a["frame_dir"] for a in anns[:2]], "xsub_val": [a["frame_dir"] for a in anns[2:]]}
    return {"split": split, "annotations": anns}


def _write(path: Path, obj, protocol=4) -> Path:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


# ---------------------------------------------------------------------------------------------- round trips

@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_save_load_to_samples_round_trip(tmp_path, dtype):
    data = _data(dtype=dtype)
    data["annotations"][0]["img_shape"] = (1080, 1920)
    data["annotations"][0]["subject"] = np.int64(7)
    path = tmp_path / "ntu.pkl"
    pyskl.save(path, data["annotations"], split=data["split"])

    raw = path.read_bytes()
    assert raw[:2] == b"\x80\x04"                      # protocol 4
    plain = pickle.loads(raw)                          # an ordinary pyskl reader sees the same layout
    assert set(plain) == {"split", "annotations"} and plain["split"] == data["split"]

    loaded = pyskl.load(path)
    assert pyskl.splits(loaded) == data["split"]
    for got, want in zip(loaded["annotations"], data["annotations"]):
        assert type(got["keypoint"]) is np.ndarray and got["keypoint"].dtype == dtype
        np.testing.assert_array_equal(got["keypoint"], want["keypoint"])

    samples = pyskl.to_samples(loaded)
    assert [s.name for s in samples] == [a["frame_dir"] for a in data["annotations"]]
    assert [s.label for s in samples] == [0, 1, 2]
    for s, a in zip(samples, data["annotations"]):
        assert s.body.dtype == np.float32 and s.body.shape == (a["total_frames"], 2, 25, 3)
        np.testing.assert_array_equal(s.body, a["keypoint"].astype(np.float32).transpose(1, 0, 2, 3))
        assert s.hands is None
    assert samples[0].meta == {"img_shape": [1080, 1920], "subject": 7}
    json.dumps([s.meta for s in samples])


def test_from_samples_round_trip_with_hands(tmp_path):
    rng = np.random.default_rng(3)
    t = 6
    hands = rng.standard_normal((t, 2, 21, 3)).astype(np.float32)
    mask = np.ones((t, 2), bool)
    mask[2, 1] = mask[4, 0] = False                    # differs from the mask Sample would derive
    with_hands = Sample("a01_s01_e00_v01", 4, rng.standard_normal((t, 1, 25, 3)), hands, mask,
                        meta={"view": 1, "img_shape": [480, 640]})
    body_only = Sample("a02_s01_e00_v01", 0, rng.standard_normal((t + 1, 2, 25, 3)), meta={"subject": 2})
    data = pyskl.from_samples([with_hands, body_only], split={"xview_val": ["a01_s01_e00_v01"]})

    ann = data["annotations"][0]
    assert ann["keypoint"].shape == (1, t, 25, 3) and ann["keypoint"].dtype == np.float32
    assert ann["hand_keypoint"].shape == (2, t, 21, 3) and ann["hand_mask"].shape == (t, 2)
    assert ann["total_frames"] == t and ann["img_shape"] == (480, 640)
    assert "hand_keypoint" not in data["annotations"][1]

    path = tmp_path / "ucla.pkl"
    pyskl.save(path, data)
    back = pyskl.to_samples(pyskl.load(path))
    assert pyskl.splits(pyskl.load(path)) == {"xview_val": ["a01_s01_e00_v01"]}
    for got, want in zip(back, [with_hands, body_only]):
        assert (got.name, got.label, got.meta) == (want.name, want.label, want.meta)
        np.testing.assert_array_equal(got.body, want.body)
    np.testing.assert_array_equal(back[0].hands, hands)
    np.testing.assert_array_equal(back[0].hand_mask, mask)
    assert back[1].hands is None and back[1].hand_mask is None


def test_keypoint_score_is_appended_as_a_channel_or_dropped(tmp_path):
    ann = _ann(m=1, t=4, v=17, c=2, img_shape=(360, 480), original_shape=(720, 960))
    score = np.random.default_rng(1).random((1, 4, 17)).astype(np.float16)
    ann["keypoint_score"] = score
    path = tmp_path / "gym.pkl"
    pyskl.save(path, [ann])
    loaded = pyskl.load(path)
    (s,) = pyskl.to_samples(loaded)
    assert s.body.shape == (4, 1, 17, 3)
    np.testing.assert_array_equal(s.body[..., 2], score.astype(np.float32).transpose(1, 0, 2))
    np.testing.assert_array_equal(s.body[..., :2], ann["keypoint"].transpose(1, 0, 2, 3))
    assert s.meta == {"img_shape": [360, 480], "original_shape": [720, 960]}
    (s2,) = pyskl.to_samples(loaded, append_score=False)
    assert s2.body.shape == (4, 1, 17, 2)


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_loads_every_pickle_protocol(tmp_path, protocol):
    # mmcv.dump (what pyskl's tools use) writes protocol 2: bytes as _codecs.encode, b'' as builtins.bytes
    data = _data(dtype=np.float16)
    data["annotations"][0]["label"] = np.int64(0)
    data["annotations"][0]["empty"] = np.zeros((0, 3), np.float32)
    data["annotations"][0]["img_shape"] = (1080, 1920)
    data["annotations"][1]["fortran"] = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    path = _write(tmp_path / "p.pkl", data, protocol)
    loaded = pyskl.load(path)
    for got, want in zip(loaded["annotations"], data["annotations"]):
        np.testing.assert_array_equal(got["keypoint"], want["keypoint"])
        assert got["keypoint"].dtype == np.float16
    assert loaded["annotations"][0]["empty"].shape == (0, 3)
    np.testing.assert_array_equal(loaded["annotations"][1]["fortran"], np.arange(6.0).reshape(2, 3))
    assert pyskl.to_samples(loaded)[0].label == 0


def test_loads_numpy1_module_paths(tmp_path):
    raw = pickle.dumps(_data(), protocol=2)
    # numpy 1.x names its rebuilders numpy.core.multiarray.*; GLOBAL is newline-terminated text in protocol 2
    old = raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray\n_reconstruct" in old and b"numpy._core" not in old
    (tmp_path / "np1.pkl").write_bytes(old)
    loaded = pyskl.load(tmp_path / "np1.pkl")
    np.testing.assert_array_equal(loaded["annotations"][2]["keypoint"], _data()["annotations"][2]["keypoint"])


def test_find_class_allow_list():
    u = pyskl.RestrictedUnpickler(io.BytesIO(b""), "x.pkl")
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        assert callable(u.find_class(module, "_reconstruct"))
        assert callable(u.find_class(module, "scalar"))
    with pytest.raises(DataFormatError, match=r"x\.pkl: refuses to load os\.system"):
        u.find_class("os", "system")
    with pytest.raises(DataFormatError, match="refuses to load numpy.load"):
        u.find_class("numpy", "load")
    # widening this list is a security decision: make it show up in review
    assert pyskl.ALLOWED_GLOBALS == {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
        ("builtins", "bytes"), ("__builtin__", "bytes")}


# ---------------------------------------------------------------------------------------------- hostile files

def _with_payload(payload):
    data = _data()
    data["annotations"][1]["extra"] = payload
    return data


@pytest.mark.parametrize("protocol", [2, 4])
def test_os_system_payload_is_refused(tmp_path, protocol):
    pwned = tmp_path / "pwned"
    path = _write(tmp_path / "evil.pkl", _with_payload(_Reduce(os.system, (f"touch {pwned}",))), protocol)
    with pytest.raises(DataFormatError, match=r"refuses to load (posix|nt|os)\.system") as e:
        pyskl.load(path)
    assert str(path) in str(e.value)
    assert not pwned.exists()


def test_eval_payload_is_refused_and_would_have_run(tmp_path):
    def payload(target):
        return _Reduce(eval, (f"__import__('pathlib').Path({str(target)!r}).touch()",))

    control = tmp_path / "control"
    pickle.loads(pickle.dumps(payload(control)))      # the payload is live under plain pickle
    assert control.exists()

    pwned = tmp_path / "pwned"
    path = _write(tmp_path / "evil.pkl", _with_payload(payload(pwned)))
    with pytest.raises(DataFormatError, match=r"refuses to load builtins\.eval"):
        pyskl.load(path)
    assert not pwned.exists()


def test_object_arrays_are_refused(tmp_path):
    path = _write(tmp_path / "obj.pkl", _with_payload(np.array([1, "a", None], dtype=object)))
    with pytest.raises(DataFormatError, match="object dtype"):
        pyskl.load(path)
    path = _write(tmp_path / "objdt.pkl", _with_payload(np.dtype(object)))
    with pytest.raises(DataFormatError, match="object dtype"):
        pyskl.load(path)


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_tampered_dtype_flags_are_refused(tmp_path):
    # dtype.__setstate__ accepts flags claiming float64 holds Python objects; numpy would then read the
    # array's bytes as object pointers
    evil_dtype = _Reduce(np.dtype, ("f8", False, True), (3, "<", None, None, None, -1, -1, 1))
    rebuild = np.zeros(1).__reduce__()[0]
    evil_array = _Reduce(rebuild, (np.ndarray, (0,), b"b"), (1, (1,), evil_dtype, False, b"\x00" * 8))
    path = _write(tmp_path / "flags.pkl", _with_payload(evil_array))
    # refused while the array is rebuilt ("array: "), not only by the check of the loaded result
    with pytest.raises(DataFormatError, match=r"flags\.pkl: array: refuses tampered dtype '<f8' \(flags 1"):
        pyskl.load(path)


@pytest.mark.parametrize("payload, message", [
    (_Reduce(np.ndarray, ((2,),)), "refuses to call numpy.ndarray directly"),
    (_Reduce(np.dtype, ("V8", False, True)), "refuses dtype"),
    (_Reduce(np.zeros(1).__reduce__()[0], (np.ndarray, (1000,), "O")), "typecode must be b'b'"),
])
def test_misused_numpy_globals_are_refused(tmp_path, payload, message):
    path = _write(tmp_path / "np.pkl", _with_payload(payload))
    with pytest.raises(DataFormatError, match=message):
        pyskl.load(path)


def test_state_cannot_be_given_to_an_allowed_global(tmp_path):
    # protocol 0: GLOBAL numpy.dtype, an empty dict with {'a': 1}, BUILD: would rewire the stand-in
    path = tmp_path / "build.pkl"
    path.write_bytes(b"cnumpy\ndtype\n(dS'a'\nI1\nsb.")
    with pytest.raises(DataFormatError, match="refuses to give state"):
        pyskl.load(path)


def test_truncated_random_and_empty_files(tmp_path):
    raw = pickle.dumps(_data(), protocol=4)
    (tmp_path / "cut.pkl").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataFormatError, match=r"cut\.pkl: not a readable pickle"):
        pyskl.load(tmp_path / "cut.pkl")
    (tmp_path / "noise.pkl").write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(DataFormatError, match=r"noise\.pkl: (not a readable pickle|refuses)"):
        pyskl.load(tmp_path / "noise.pkl")
    (tmp_path / "empty.pkl").write_bytes(b"")
    with pytest.raises(DataFormatError, match="ends early"):
        pyskl.load(tmp_path / "empty.pkl")
    with pytest.raises(FileNotFoundError):
        pyskl.load(tmp_path / "missing.pkl")


# ---------------------------------------------------------------------------------------------- structure

def _set(i, key, value):
    def change(d):
        d["annotations"][i][key] = value
    return change


def _drop(i, key):
    def change(d):
        del d["annotations"][i][key]
    return change


@pytest.mark.parametrize("change, message", [
    (_drop(1, "keypoint"), r"annotation 1 \('S001C001P001R001A001'\) has no 'keypoint'"),
    (_set(1, "keypoint", np.zeros((2, 5, 25), np.float32)),
     r"annotation 1 \('S001C001P001R001A001'\): keypoint must have 4 dims \[M, T, V, C\], got shape \(2, 5, 25\)"),
    (_set(1, "keypoint", [[[[0.0]]]]), "keypoint must be a numpy array, got list"),
    (_set(1, "keypoint", np.zeros((1, 2, 3, 1), complex)), "keypoint must be a real-valued array"),
    (_set(1, "keypoint", np.zeros((1, 0, 3, 2), np.float32)), "empty T, V or C"),
    (_set(1, "label", 1.0), r"\('S001C001P001R001A001'\): label must be an int, got float 1.0"),
    (_set(1, "label", "1"), "label must be an int, got str '1'"),
    (_set(1, "label", True), "label must be an int, got bool"),
    (_set(1, "label", -1), "label must be >= 0"),
    (_drop(1, "label"), r"annotation 1 \('S001C001P001R001A001'\) has no 'label'"),
    (_drop(0, "frame_dir"), "annotation 0 has no 'frame_dir'"),
    (_set(0, "frame_dir", 5), "annotation 0: frame_dir must be a non-empty str, got 5"),
    (_set(2, "frame_dir", "S001C000P001R001A000"), "annotation 2: frame_dir 'S001C000P001R001A000' repeats "
                                                   "annotation 0"),
    (_set(1, "total_frames", 99), "total_frames is 99 but keypoint has 5 frames"),
    (_set(1, "total_frames", 5.0), "total_frames must be an int"),
    (_set(1, "keypoint_score", np.zeros((2, 5), np.float32)), r"keypoint_score must be a real array of shape"),
    (_set(1, "hand_keypoint", np.zeros((2, 4, 21, 3), np.float32)), r"hand_keypoint must be a real array \[2, T=5"),
    (_set(1, "hand_mask", np.zeros((5, 2), bool)), "hand_mask without hand_keypoint"),
    (lambda d: d["annotations"].__setitem__(1, ("a", 1)), "annotation 1 is a tuple, not a dict"),
    (lambda d: d.__setitem__("annotations", {}), "'annotations' is a dict, not a list"),
    (lambda d: d.pop("annotations"), "top-level dict has no 'annotations' key"),
    (lambda d: d.__setitem__("split", ["xsub_train"]), "'split' is a list, not a dict"),
    (lambda d: d["split"].__setitem__("xsub_val", [1, 2]), "split 'xsub_val' must be a list of frame_dir strings"),
])
def test_malformed_structure_is_reported(tmp_path, change, message):
    data = _data()
    data["annotations"][1]["frame_dir"] = "S001C001P001R001A001"
    data["annotations"][0]["frame_dir"] = "S001C000P001R001A000"
    change(data)
    path = _write(tmp_path / "bad.pkl", data)
    with pytest.raises(DataFormatError, match=message) as e:
        pyskl.load(path)
    assert e.value.path == str(path) and str(e.value).startswith(f"{path}: ")


@pytest.mark.parametrize("top", [3, "annotations", None, (1, 2)])
def test_wrong_top_level_type(tmp_path, top):
    with pytest.raises(DataFormatError, match=f"top level is a {type(top).__name__}"):
        pyskl.load(_write(tmp_path / "top.pkl", top))


def test_bare_list_of_annotations_loads(tmp_path):
    anns = _data()["annotations"]
    loaded = pyskl.load(_write(tmp_path / "train.pkl", anns, protocol=2))
    assert loaded["split"] == {} and pyskl.splits(loaded) == {}
    assert [s.name for s in pyskl.to_samples(loaded)] == [a["frame_dir"] for a in anns]
    assert [s.name for s in pyskl.to_samples(anns)] == [a["frame_dir"] for a in anns]


# ---------------------------------------------------------------------------------------------- save

def test_save_is_atomic_and_refuses_what_load_would(tmp_path):
    path = tmp_path / "out.pkl"
    pyskl.save(path, _data()["annotations"])
    pyskl.save(path, _data(n=2)["annotations"])           # replaces the file
    assert os.listdir(tmp_path) == ["out.pkl"]
    before = path.read_bytes()
    assert len(pyskl.load(path)["annotations"]) == 2
    assert pickle.loads(before)["split"] == {}               # pyskl indexes data['split'], so it is always written

    bad = _data()["annotations"]
    bad[0]["where"] = Path("/tmp")                           # would pickle a pathlib global
    with pytest.raises(DataFormatError, match=r"out\.pkl: cannot save: refuses a (Posix|Windows)Path object"):
        pyskl.save(path, bad)
    bad = _data()["annotations"]
    bad[0]["objects"] = np.array([None], dtype=object)
    with pytest.raises(DataFormatError, match="cannot save: stored array: refuses object dtype"):
        pyskl.save(path, bad)
    bad = _data()["annotations"]
    del bad[2]["keypoint"]
    with pytest.raises(DataFormatError, match="has no 'keypoint'"):
        pyskl.save(path, bad)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["out.pkl"]
    with pytest.raises(DataFormatError):
        pyskl.save(tmp_path / "new.pkl", bad)
    assert os.listdir(tmp_path) == ["out.pkl"]
