"""bharnet.data.store: the memory-mapped dataset store (round trip, splits, summary, atomic writes,
damage detection, pickling for DataLoader workers)."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from bharnet.data.sample import Sample
from bharnet.data.store import FORMAT_VERSION, DatasetStore, StoreError, StoreWriter, write_store

# ---------------------------------------------------------------------------------------------- helpers


def make_sample(name: str, label: int, num_frames: int, seed: int, *, hands: bool = True, extras: bool = True,
                meta: dict | None = None, hand_mask: np.ndarray | None = None) -> Sample:
    rng = np.random.default_rng(seed)
    body = rng.standard_normal((num_frames, 2, 25, 3)).astype(np.float32)
    kwargs = {}
    if hands:
        kwargs["hands"] = rng.standard_normal((num_frames, 2, 21, 3)).astype(np.float32)
        kwargs["hand_mask"] = rng.random((num_frames, 2)) > 0.3 if hand_mask is None else hand_mask
    if extras:
        kwargs["extras"] = {
            "body_color": rng.uniform(0, 1920, (num_frames, 2, 25, 2)).astype(np.float32),
            "video_frame": (np.arange(num_frames) * 2 + seed).astype(np.int32),
        }
    return Sample(name=name, label=label, body=body, meta=meta if meta is not None else {"subject": seed}, **kwargs)


# name, label, T, xsub split, xview split
SPEC = [
    ("S001C001P001R001A001", 0, 7, "train", "test"),
    ("S001C002P002R001A002", 1, 12, "test", "train"),
    ("S001C003P003R001A003", 2, 1, "train", None),
    ("S002C001P001R002A001", 0, 30, None, "test"),
    ("S002C002P004R002A003", 2, 19, "test", "train"),
]


def make_samples() -> list[tuple[Sample, dict]]:
    out = []
    for i, (name, label, t, xsub, xview) in enumerate(SPEC):
        meta = {"subject": i + 1, "camera": i % 3 + 1, "tag": f"clip-{i}", "nested": {"ok": [1, 2, i]}}
        out.append((make_sample(name, label, t, seed=i, meta=meta), {"xsub": xsub, "xview": xview}))
    return out


def assert_same_sample(a: Sample, b: Sample) -> None:
    assert a.name == b.name
    assert a.label == b.label
    assert a.meta == b.meta
    assert a.body.dtype == np.float32 and a.body.shape == b.body.shape
    np.testing.assert_array_equal(a.body, b.body)
    if b.hands is None:
        assert a.hands is None and a.hand_mask is None
    else:
        assert a.hands.dtype == np.float32 and a.hand_mask.dtype == bool
        np.testing.assert_array_equal(a.hands, b.hands)
        np.testing.assert_array_equal(a.hand_mask, b.hand_mask)
    assert set(a.extras) == set(b.extras)
    for key, value in b.extras.items():
        assert a.extras[key].dtype == value.dtype, key
        np.testing.assert_array_equal(a.extras[key], value)


@pytest.fixture
def samples():
    return make_samples()


@pytest.fixture
def store_path(tmp_path, samples):
    return write_store(tmp_path / "ntu.store", samples, splits=("xsub", "xview"), num_classes=4,
                       info={"source": "synthetic"})


# ------------------------------------------------------------------------------------------- round trip


def test_round_trip_every_field(store_path, samples):
    assert store_path.is_dir()
    assert not store_path.with_name("ntu.store.partial").exists()
    store = DatasetStore(store_path)
    assert len(store) == len(SPEC) == 5
    assert store.fields == ("body", "hands", "hand_mask", "body_color", "video_frame")
    assert store.num_classes == 4
    assert store.protocols == ("xsub", "xview")
    assert store.info == {"source": "synthetic"}
    assert store.labels.tolist() == [0, 1, 2, 0, 2]
    assert [str(n) for n in store.names] == [s[0] for s in SPEC]
    for i, (sample, _) in enumerate(samples):
        assert store.num_frames(i) == SPEC[i][2]
        assert_same_sample(store[i], sample)
    assert store.manifest["num_frames"] == sum(s[2] for s in SPEC) == 69
    assert store.manifest["version"] == FORMAT_VERSION


def test_manifest_records_shapes_sizes_dtypes(store_path):
    manifest = json.loads((store_path / "manifest.json").read_text())
    files = manifest["files"]
    assert files["body"]["shape"] == [69, 2, 25, 3] and files["body"]["dtype"] == "<f4"
    assert files["hands"]["shape"] == [69, 2, 21, 3]
    assert files["hand_mask"]["shape"] == [69, 2] and files["hand_mask"]["dtype"] == "|b1"
    assert files["video_frame"]["shape"] == [69] and files["video_frame"]["dtype"] == "<i4"
    assert files["body"]["bytes"] == 69 * 2 * 25 * 3 * 4 == (store_path / "body.bin").stat().st_size
    assert files["body_color"]["bytes"] == 69 * 2 * 25 * 2 * 4
    assert all(len(e["sha256"]) == 64 for e in files.values())


def test_num_classes_defaults_to_max_label_plus_one(tmp_path, samples):
    path = write_store(tmp_path / "s", samples)
    store = DatasetStore(path)
    assert store.num_classes == 3
    assert store.protocols == ()


def test_negative_index_and_out_of_range(store_path, samples):
    store = DatasetStore(store_path)
    assert_same_sample(store[-1], samples[-1][0])
    assert_same_sample(store[-5], samples[0][0])
    for bad in (5, 6, -6, 100):
        with pytest.raises(IndexError):
            store[bad]
        with pytest.raises(IndexError):
            store.frames("body", bad)


def test_frames_is_a_read_only_view_of_the_map(store_path, samples):
    store = DatasetStore(store_path)
    view = store.frames("body", 3)
    assert view.shape == (30, 2, 25, 3)
    np.testing.assert_array_equal(view, samples[3][0].body)
    # a view into the memory map, not a copy of the whole array (nor of the slice)
    assert isinstance(view, np.memmap)
    assert not view.flags.owndata
    assert not view.flags.writeable
    with pytest.raises(ValueError):
        view[0, 0, 0, 0] = 1.0
    whole = store._array("body")  # the map of every sample's frames
    assert whole.shape == (69, 2, 25, 3)
    assert np.shares_memory(view, whole)
    assert not np.shares_memory(view, store.frames("body", 2))  # disjoint slices of the one map
    np.testing.assert_array_equal(store.frames("video_frame", -2), samples[3][0].extras["video_frame"])
    np.testing.assert_array_equal(store.frames("hand_mask", 1), samples[1][0].hand_mask)
    assert store.frames("body", 2).shape == (1, 2, 25, 3)
    with pytest.raises(KeyError, match="no field 'labels'"):
        store.frames("labels", 0)  # an index array, not a per-frame field


def test_getitem_returns_independent_copies(store_path):
    store = DatasetStore(store_path)
    a = store[1]
    assert a.body.flags.writeable and a.body.flags.owndata
    a.body[:] = 0
    assert np.abs(store[1].body).sum() > 0


def test_index_of(store_path):
    store = DatasetStore(store_path)
    for i, spec in enumerate(SPEC):
        assert store.index_of(spec[0]) == i
    with pytest.raises(KeyError, match="S009"):
        store.index_of("S009C001P001R001A001")
    with pytest.raises(KeyError):
        store.index_of("S001C001P001R001A00")  # a prefix of a real name is not a match


def test_split_indices(store_path):
    store = DatasetStore(store_path)
    assert store.split("xsub", "train").tolist() == [0, 2]
    assert store.split("xsub", "test").tolist() == [1, 4]  # sample 3 is in neither (None)
    assert store.split("xview", "train").tolist() == [1, 4]
    assert store.split("xview", "test").tolist() == [0, 3]
    assert store.split("all", "train").tolist() == [0, 1, 2, 3, 4]
    assert store.split("all", "test").tolist() == [0, 1, 2, 3, 4]
    assert store.split("xsub", "all").tolist() == [0, 1, 2, 4]  # every sample of the protocol
    assert store.split("xview", "all").tolist() == [0, 1, 3, 4]
    split_file = np.load(store_path / "split_xsub.npy")
    assert split_file.dtype == np.int8 and split_file.tolist() == [0, 1, 0, -1, 1]
    with pytest.raises(KeyError, match="xset"):
        store.split("xset", "train")
    with pytest.raises(ValueError):
        store.split("xsub", "val")


def test_summary_counts(tmp_path):
    t = 10
    left_half = np.zeros((t, 2), bool)
    left_half[:5, 0] = True  # left detected in 5 frames, right never
    both = np.ones((t, 2), bool)
    none = np.zeros((t, 2), bool)
    right_some = np.zeros((t, 2), bool)
    right_some[[1, 3], 1] = True
    items = [
        (make_sample("a", 0, t, 0, hand_mask=left_half, extras=False), {"xsub": "train"}),
        (make_sample("b", 2, t, 1, hand_mask=both, extras=False), {"xsub": "train"}),
        (make_sample("c", 2, t, 2, hand_mask=none, extras=False), {"xsub": "test"}),
        (make_sample("d", 2, t, 3, hand_mask=right_some, extras=False), {"xsub": None}),
    ]
    path = write_store(tmp_path / "s", items, splits=("xsub",), num_classes=5)
    summary = DatasetStore(path).summary()
    assert summary["samples"] == 4 and summary["frames"] == 40 and summary["classes"] == 5
    assert summary["fields"] == ["body", "hands", "hand_mask"]
    assert summary["splits"] == {"xsub": {"train": 2, "test": 1}}
    assert summary["per_class"] == [1, 0, 3, 0, 0]
    hands = summary["hands"]
    assert hands["detected_frames_left"] == pytest.approx(15 / 40)
    assert hands["detected_frames_right"] == pytest.approx(12 / 40)
    assert hands["samples_without_left"] == 2  # c, d
    assert hands["samples_without_right"] == 2  # a, c


def test_summary_without_hands(tmp_path):
    path = write_store(tmp_path / "s", [make_sample("a", 1, 4, 0, hands=False, extras=False)])
    summary = DatasetStore(path).summary()
    assert "hands" not in summary
    assert summary["fields"] == ["body"]
    assert summary["per_class"] == [0, 1]
    assert summary["splits"] == {}


def test_meta_is_read_on_demand(store_path, samples):
    store = DatasetStore(store_path)
    assert store._meta is None
    assert store.meta[2] == samples[2][0].meta


# ------------------------------------------------------------------------------------ atomic writing


def test_partial_directory_while_writing(tmp_path, samples):
    path = tmp_path / "w.store"
    partial = tmp_path / "w.store.partial"
    writer = StoreWriter(path, splits=("xsub",))
    writer.add(samples[0][0], {"xsub": "train"})
    writer.add(samples[1][0], {"xsub": "test"})
    assert len(writer) == 2
    assert partial.is_dir() and not path.exists()
    with pytest.raises(StoreError, match="interrupted") as err:
        DatasetStore(path)
    assert "w.store.partial" in str(err.value)
    assert writer.close() == path
    assert path.is_dir() and not partial.exists()
    assert len(DatasetStore(path)) == 2


def test_exception_inside_writer_leaves_nothing(tmp_path, samples):
    path = tmp_path / "w.store"
    with pytest.raises(RuntimeError, match="boom"), StoreWriter(path) as writer:
        writer.add(samples[0][0])
        assert (tmp_path / "w.store.partial").is_dir()
        raise RuntimeError("boom")
    assert not path.exists()
    assert not (tmp_path / "w.store.partial").exists()
    assert list(tmp_path.iterdir()) == []


def test_exception_inside_writer_keeps_the_old_store(tmp_path, samples):
    path = write_store(tmp_path / "w.store", [samples[0]])
    with pytest.raises(RuntimeError), StoreWriter(path, overwrite=True) as writer:
        writer.add(samples[1][0])
        raise RuntimeError("boom")
    store = DatasetStore(path)
    assert len(store) == 1 and store[0].name == SPEC[0][0]
    assert not (tmp_path / "w.store.partial").exists()


def test_leftover_partial_only_gives_interrupted_error(tmp_path):
    (tmp_path / "x.store.partial").mkdir()
    (tmp_path / "x.store.partial" / "body.bin").write_bytes(b"\0" * 100)
    with pytest.raises(StoreError, match="interrupted"):
        DatasetStore(tmp_path / "x.store")


def test_no_store_at_all(tmp_path):
    with pytest.raises(StoreError, match="no dataset store") as err:
        DatasetStore(tmp_path / "nothing")
    assert "interrupted" not in str(err.value)


def test_writer_replaces_a_stale_partial(tmp_path, samples):
    stale = tmp_path / "x.store.partial"
    stale.mkdir()
    (stale / "junk.bin").write_bytes(b"junk")
    path = write_store(tmp_path / "x.store", [samples[0]])
    assert not stale.exists()
    assert not (path / "junk.bin").exists()
    DatasetStore(path).verify()


def test_refuses_to_overwrite_without_flag(tmp_path, samples):
    path = write_store(tmp_path / "x.store", [samples[0]])
    with pytest.raises(FileExistsError, match="overwrite"):
        StoreWriter(path)
    with pytest.raises(FileExistsError):
        write_store(path, [samples[1]])
    assert not (tmp_path / "x.store.partial").exists()
    assert DatasetStore(path)[0].name == SPEC[0][0]
    write_store(path, [samples[1], samples[2]], overwrite=True)
    store = DatasetStore(path)
    assert len(store) == 2 and [str(n) for n in store.names] == [SPEC[1][0], SPEC[2][0]]
    store.verify()


def test_empty_writer_close_raises_and_cleans_up(tmp_path):
    path = tmp_path / "e.store"
    writer = StoreWriter(path)
    with pytest.raises(ValueError, match="no samples"):
        writer.close()
    assert not path.exists() and not (tmp_path / "e.store.partial").exists()
    with pytest.raises(ValueError, match="no samples"), StoreWriter(path):
        pass
    assert not path.exists() and not (tmp_path / "e.store.partial").exists()


def test_closed_writer_rejects_add(tmp_path, samples):
    writer = StoreWriter(tmp_path / "c.store")
    writer.add(samples[0][0])
    writer.close()
    with pytest.raises(RuntimeError, match="closed"):
        writer.add(samples[1][0])


@pytest.mark.parametrize("bad", ["no_hands", "extra_field", "missing_extra", "dtype", "joints", "persons",
                                 "extra_shape", "split_value"])
def test_writer_rejects_mismatched_sample_without_writing(tmp_path, bad):
    first = make_sample("first", 0, 6, seed=0)
    second = make_sample("second", 1, 9, seed=1)
    wrong = make_sample("wrong", 2, 11, seed=2)
    splits = None
    if bad == "no_hands":
        wrong = make_sample("wrong", 2, 11, seed=2, hands=False)
    elif bad == "extra_field":
        wrong.extras["depth"] = np.zeros(11, np.float32)
    elif bad == "missing_extra":
        del wrong.extras["video_frame"]
    elif bad == "dtype":
        wrong.extras["video_frame"] = wrong.extras["video_frame"].astype(np.int64)
    elif bad == "joints":
        wrong = Sample("wrong", 2, wrong.body[:, :, :20], hands=wrong.hands, hand_mask=wrong.hand_mask,
                       extras=wrong.extras)
    elif bad == "persons":
        wrong = Sample("wrong", 2, wrong.body[:, :1], hands=wrong.hands, hand_mask=wrong.hand_mask,
                       extras=wrong.extras)
    elif bad == "extra_shape":
        wrong.extras["body_color"] = wrong.extras["body_color"][..., :1]
    elif bad == "split_value":
        splits = {"xsub": "val"}
    path = tmp_path / "m.store"
    with StoreWriter(path, splits=("xsub",)) as writer:
        writer.add(first, {"xsub": "train"})
        with pytest.raises(ValueError, match="wrong"):
            writer.add(wrong, splits)
        assert len(writer) == 1
        writer.add(second, {"xsub": "test"})
    store = DatasetStore(path)
    store.verify()
    assert len(store) == 2
    assert store.manifest["num_frames"] == 15
    assert (path / "body.bin").stat().st_size == 15 * 2 * 25 * 3 * 4
    assert_same_sample(store[0], first)
    assert_same_sample(store[1], second)
    assert store.split("xsub", "test").tolist() == [1]


def test_rejected_first_sample_leaves_no_trace(tmp_path):
    path = tmp_path / "f.store"
    with StoreWriter(path, splits=("xsub",)) as writer:
        with pytest.raises(ValueError, match="split values"):
            writer.add(make_sample("bad", 0, 5, seed=0), {"xsub": "validation"})
        assert len(writer) == 0
        writer.add(make_sample("ok", 1, 8, seed=1, hands=False), {"xsub": "test"})  # other fields: fine now
    store = DatasetStore(path)
    store.verify()
    assert len(store) == 1 and store.fields == ("body", "body_color", "video_frame")
    assert store.manifest["num_frames"] == 8
    assert_same_sample(store[0], make_sample("ok", 1, 8, seed=1, hands=False))
    assert store.split("xsub", "test").tolist() == [0]


def test_rejected_first_sample_leaves_no_stray_files(tmp_path):
    path = tmp_path / "f.store"
    with StoreWriter(path, splits=("xsub",)) as writer:
        with pytest.raises(ValueError, match="split values"):
            writer.add(make_sample("bad", 0, 5, seed=0), {"xsub": "validation"})
        writer.add(make_sample("ok", 1, 8, seed=1, hands=False), {"xsub": "test"})
    manifest = json.loads((path / "manifest.json").read_text())
    listed = {e["file"] for e in manifest["files"].values()} | {"manifest.json"}
    assert {p.name for p in path.iterdir()} == listed


@pytest.mark.parametrize("key", ["body", "labels", "offsets", "meta", "split_xsub", "../escape"])
def test_extras_with_reserved_names_are_rejected(tmp_path, key):
    t = 4
    value = np.full((t, 2, 25, 3), 7.0, np.float32) if key == "body" else np.arange(t, dtype=np.int64)
    sample = make_sample("a", 0, t, seed=0, hands=False, extras=False)
    sample.extras[key] = value
    with StoreWriter(tmp_path / "r.store", splits=("xsub",)) as writer:
        with pytest.raises(ValueError):
            writer.add(sample, {"xsub": "train"})
        writer.add(make_sample("b", 0, t, seed=1, hands=False, extras=False), {"xsub": "train"})
    assert not (tmp_path / "escape.bin").exists()


# ------------------------------------------------------------------------------------------------ damage


def test_deleted_array_file(store_path):
    (store_path / "hand_mask.bin").unlink()
    with pytest.raises(StoreError, match="hand_mask") as err:
        DatasetStore(store_path)
    assert err.value.path == str(store_path / "hand_mask.bin")
    assert "hand_mask.bin" in str(err.value)
    assert "missing" in str(err.value)


def test_deleted_index_file(store_path):
    (store_path / "offsets.npy").unlink()
    with pytest.raises(StoreError, match="offsets.npy"):
        DatasetStore(store_path)


def test_truncated_file(store_path):
    file = store_path / "body.bin"
    size = file.stat().st_size
    with open(file, "r+b") as f:
        f.truncate(size - 7)
    with pytest.raises(StoreError) as err:
        DatasetStore(store_path)
    message = str(err.value)
    assert "body.bin" in message
    assert f"has {size - 7} bytes" in message
    assert f"the manifest says {size}" in message
    assert "truncated" in message


def test_appended_bytes(store_path):
    with open(store_path / "video_frame.bin", "ab") as f:
        f.write(b"\0\0\0\0")
    with pytest.raises(StoreError, match=f"has {69 * 4 + 4} bytes"):
        DatasetStore(store_path)


def test_corrupt_byte_passes_open_fails_verify(store_path):
    DatasetStore(store_path).verify()  # intact store verifies
    file = store_path / "hands.bin"
    data = bytearray(file.read_bytes())
    data[1234] ^= 0xFF
    file.write_bytes(bytes(data))
    store = DatasetStore(store_path)  # the size still matches: opening is cheap and passes
    assert len(store) == 5
    with pytest.raises(StoreError, match="checksum") as err:
        store.verify()
    assert "hands" in str(err.value)
    assert err.value.path == str(file)


def test_corrupt_meta_json_fails_verify(store_path):
    file = store_path / "meta.json"
    text = file.read_text()
    file.write_text(text.replace('"clip-0"', '"clip-9"'))
    store = DatasetStore(store_path)
    with pytest.raises(StoreError, match="checksum"):
        store.verify()


def test_missing_manifest(store_path):
    (store_path / "manifest.json").unlink()
    with pytest.raises(StoreError, match="manifest.json is missing"):
        DatasetStore(store_path)


def test_corrupt_manifest_json(store_path):
    manifest = store_path / "manifest.json"
    manifest.write_text(manifest.read_text()[:200])  # cut mid-document
    with pytest.raises(StoreError, match="corrupt manifest") as err:
        DatasetStore(store_path)
    assert err.value.path == str(manifest)
    manifest.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(StoreError, match="corrupt manifest"):
        DatasetStore(store_path)


def test_wrong_format_version(store_path):
    manifest_path = store_path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["version"] = FORMAT_VERSION + 1
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match=f"version {FORMAT_VERSION + 1} is not supported"):
        DatasetStore(store_path)


def test_not_a_store_manifest(store_path):
    manifest_path = store_path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format"] = "something-else"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match="not a bharnet dataset store"):
        DatasetStore(store_path)


@pytest.mark.parametrize("text,message", [
    ("[]", "not a bharnet dataset store"),
    ("null", "not a bharnet dataset store"),
    ('"bharnet-store"', "not a bharnet dataset store"),
    ('{"format": "bharnet-store", "version": 1}', "incomplete manifest"),
])
def test_manifest_valid_json_but_wrong_structure(store_path, text, message):
    """Regression: these raised AttributeError / KeyError instead of StoreError."""
    (store_path / "manifest.json").write_text(text)
    with pytest.raises(StoreError, match=message):
        DatasetStore(store_path)


def test_manifest_without_body_field(store_path):
    manifest_path = store_path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["files"]["body"]
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match="incomplete manifest"):
        DatasetStore(store_path)


# ---------------------------------------------------------------------------------------------- pickling


def test_pickle_round_trip_is_small_and_works(tmp_path):
    # a few MB of frames
    items = [make_sample(f"S{i:03d}", i % 3, 800 + 37 * i, seed=i) for i in range(5)]
    path = write_store(tmp_path / "big.store", items, num_classes=3)
    store = DatasetStore(path)
    frame_bytes = sum((path / f"{k}.bin").stat().st_size for k in store.fields)
    assert frame_bytes > 4_000_000
    # touch every map (and the metadata) first, as a parent process would
    for i in range(len(store)):
        store[i]
    assert "body" in store._maps and "hands" in store._maps
    blob = pickle.dumps(store)
    assert len(blob) < 100_000
    clone = pickle.loads(blob)
    assert clone._maps == {}
    assert store._maps  # the original keeps its maps
    assert len(clone) == 5 and clone.fields == store.fields
    for i, sample in enumerate(items):
        assert_same_sample(clone[i], sample)
    assert clone.index_of("S003") == 3
    np.testing.assert_array_equal(clone.frames("body", -1), items[-1].body)
    clone.verify()


def test_pickle_of_fresh_store(store_path, samples):
    clone = pickle.loads(pickle.dumps(DatasetStore(store_path)))
    assert isinstance(clone.path, Path)
    assert_same_sample(clone[0], samples[0][0])
    assert clone.split("xview", "train").tolist() == [1, 4]
