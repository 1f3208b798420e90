"""A user's own videos: class folders or a CSV list -> clips, class names and splits, every bad input a clear
error naming it (nothing is extracted here: the files only need to exist)."""
import pytest
from conftest import needs_mediapipe, require_shared

from bharnet.data.sample import DataFormatError
from bharnet.datasets.videos import MIN_CLIPS, list_videos, split_videos


def _tree(root, layout):
    """``layout``: class -> file names (empty files: listing and splitting never open them)."""
    for cls, files in layout.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for f in files:
            (root / cls / f).write_bytes(b"")
    return root


def test_class_folders(tmp_path):
    root = _tree(tmp_path / "videos", {"wave": ["b.mp4", "a.MP4", "notes.txt", ".hidden.mp4"],
                                       "ok sign": ["a.mp4", "c.avi"]})
    (root / "README.md").write_text("not a class")  # files beside the class folders are ignored
    videos = list_videos(root)
    assert videos.class_names == ["ok sign", "wave"]  # sorted: label k is the k-th name
    assert [(e.path.name, e.label, e.name) for e in videos.entries] == [
        ("a.mp4", 0, "ok_sign__a"), ("c.avi", 0, "ok_sign__c"), ("a.MP4", 1, "wave__a"), ("b.mp4", 1, "wave__b")]
    assert videos.counts() == {"ok sign": 2, "wave": 2} and not videos.has_subjects
    assert len(videos.skipped) == 1 and "notes.txt: not a video file" in videos.skipped[0][1]


def test_same_stem_twice_gets_unique_names(tmp_path):
    root = _tree(tmp_path / "v", {"wave": ["clip.mp4", "clip.avi"]})
    assert [e.name for e in list_videos(root).entries] == ["wave__clip", "wave__clip__2"]


def test_folder_errors(tmp_path):
    with pytest.raises(DataFormatError, match="no such folder"):
        list_videos(tmp_path / "absent")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "x.mp4").write_bytes(b"")
    with pytest.raises(DataFormatError, match="no class folders"):
        list_videos(tmp_path / "flat")
    root = _tree(tmp_path / "v", {"wave": ["a.mp4"], "clap": ["readme.txt"], "nod": []})
    with pytest.raises(DataFormatError, match=r"v: class folder\(s\) with no video: clap, nod \(0 clips"):
        list_videos(root)
    with pytest.raises(ValueError, match="one of the two"):
        list_videos(root, tmp_path / "list.csv")


def test_csv_list(tmp_path):
    _tree(tmp_path / "clips", {"a": ["1.mp4", "2.mp4"], "b": ["3.mp4", "4.mp4"]})
    listing = tmp_path / "list.csv"
    listing.write_text("path,label,subject\nclips/b/3.mp4,wave,s2\nclips/a/1.mp4,clap,s1\n"
                       f"{tmp_path / 'clips/a/2.mp4'},clap,s2\nclips/b/4.mp4, wave ,s1\n")
    videos = list_videos(list_file=listing)
    assert videos.class_names == ["clap", "wave"] and videos.has_subjects
    assert [(e.path.name, e.label, e.subject) for e in videos.entries] == [
        ("1.mp4", 0, "s1"), ("2.mp4", 0, "s2"), ("3.mp4", 1, "s2"), ("4.mp4", 1, "s1")]


@pytest.mark.parametrize("text,message", [
    ("file,class\nx.mp4,a\n", "first line must name the columns path,label"),
    ("path,label\nclips/none.mp4,a\nclips/gone.mp4,b\n", r"2 listed video\(s\) do not exist .*line 2: clips/none.mp4"),
    ("path,label\n,a\n", r"line\(s\) 2 lack a path or a label"),
    ("path,label\n", "names no video"),
    ("path,label,subject\nclips/a/1.mp4,a,s1\nclips/a/2.mp4,a,\n", "subject column is filled on some lines only"),
])
def test_csv_errors(tmp_path, text, message):
    _tree(tmp_path / "clips", {"a": ["1.mp4", "2.mp4"]})
    listing = tmp_path / "list.csv"
    listing.write_text(text)
    with pytest.raises(DataFormatError, match=message) as info:
        list_videos(list_file=listing)
    assert "list.csv" in str(info.value)
    with pytest.raises(DataFormatError, match="cannot read the list"):
        list_videos(list_file=tmp_path / "absent.csv")


def test_stratified_split_is_seeded_and_keeps_every_class_on_both_sides(tmp_path):
    root = _tree(tmp_path / "v", {"a": [f"{i}.mp4" for i in range(8)], "b": ["0.mp4", "1.mp4"],
                                  "c": [f"{i}.mp4" for i in range(5)]})
    videos = list_videos(root)
    split = split_videos(videos, test_fraction=0.25, seed=3)
    per_class = {c: [s for s, e in zip(split, videos.entries) if e.label == k]
                 for k, c in enumerate(videos.class_names)}
    assert {c: s.count("test") for c, s in per_class.items()} == {"a": 2, "b": 1, "c": 1}
    assert all("train" in s for s in per_class.values())
    assert split == split_videos(videos, test_fraction=0.25, seed=3)
    assert any(split_videos(videos, 0.25, seed=s) != split for s in range(4, 10))


def test_subject_split(tmp_path):
    _tree(tmp_path / "clips", {"x": [f"{i}.mp4" for i in range(8)]})
    listing = tmp_path / "list.csv"
    rows = [f"clips/x/{i}.mp4,{'wave' if i % 2 else 'clap'},p{i // 2}" for i in range(8)]
    listing.write_text("path,label,subject\n" + "\n".join(rows) + "\n")
    videos = list_videos(list_file=listing)
    split = split_videos(videos, test_fraction=0.25, seed=0)
    test_subjects = {e.subject for s, e in zip(split, videos.entries) if s == "test"}
    train_subjects = {e.subject for s, e in zip(split, videos.entries) if s == "train"}
    assert len(test_subjects) == 1 and not test_subjects & train_subjects  # whole subjects, 1 of 4
    forced = split_videos(videos, test_fraction=0.25, seed=0, by_subject=False)
    assert forced.count("test") == 2  # one clip per class
    folders = list_videos(_tree(tmp_path / "v", {"a": ["1.mp4", "2.mp4"]}))
    with pytest.raises(DataFormatError, match="needs a subject for every clip"):
        split_videos(folders, by_subject=True)


def test_split_errors(tmp_path):
    root = _tree(tmp_path / "v", {"wave": ["1.mp4", "2.mp4"], "clap": ["1.mp4"]})
    assert MIN_CLIPS == 2
    with pytest.raises(DataFormatError, match=r"fewer than 2 clips.*: clap \(1 clip\)"):
        split_videos(list_videos(root))
    with pytest.raises(ValueError, match="test fraction"):
        split_videos(list_videos(root), test_fraction=1.0)
    _tree(tmp_path / "clips", {"x": ["1.mp4", "2.mp4", "3.mp4", "4.mp4"]})
    listing = tmp_path / "list.csv"
    listing.write_text("path,label,subject\nclips/x/1.mp4,a,s1\nclips/x/2.mp4,a,s1\nclips/x/3.mp4,b,s1\n"
                       "clips/x/4.mp4,b,s1\n")
    with pytest.raises(DataFormatError, match="at least 2 subjects, the list has 1"):
        split_videos(list_videos(list_file=listing))
    listing.write_text("path,label,subject\nclips/x/1.mp4,a,s1\nclips/x/2.mp4,a,s1\nclips/x/3.mp4,b,s1\n"
                       "clips/x/4.mp4,b,s2\n")
    with pytest.raises(DataFormatError, match="class a: every clip is in the"):
        split_videos(list_videos(list_file=listing), seed=0)


def _fake_result(frames=30, person=True, seed=0):
    """What the extractor returns for one clip (extract_video with body=True), without MediaPipe."""
    import numpy as np

    rng = np.random.default_rng(seed)
    body = np.zeros((frames, 1, 25, 3), np.float32)
    present = np.zeros((frames, 1), bool)
    if person:
        body[:, 0] = rng.normal(size=(frames, 25, 3)) * 0.2 + [0.0, 0.0, 3.0]
        present[:] = True
    landmarks = rng.uniform(100, 400, (frames, 2, 21, 3)).astype(np.float32)
    detected = np.ones((frames, 2), bool) & person
    return dict(landmarks=landmarks, detected=detected, score=np.ones((frames, 2), np.float32),
                anchors=np.zeros((frames, 2, 2, 2), np.float32), person=present[:, 0],
                image_size=np.array([640, 480]), fps=np.array(30.0), guide=np.array("pose"),
                extractor=np.array("tracking"), body=body, body_color=np.zeros((frames, 1, 25, 2), np.float32),
                body_present=present)


@pytest.fixture
def fake_extractor(monkeypatch):
    """The extractor mocked at its boundary (extract_video): 'noperson' clips find nobody, 'broken' ones fail."""
    import bharnet.video.extract as extract

    calls, options_seen = [], []

    def fake_extract_video(video, skeleton_path=None, *, mirrored=False, extractor=None, raise_no_person=True,
                           **options):
        calls.append(video)
        options_seen.append(options)
        if "broken" in str(video):
            raise DataFormatError(video, "cannot decode this video")
        return _fake_result(person="noperson" not in str(video), seed=len(calls))

    monkeypatch.setattr(extract, "extract_video", fake_extract_video)
    monkeypatch.setattr(extract, "require_mediapipe", lambda: None)
    monkeypatch.setattr(extract, "_worker_extractor", lambda mirrored, persons: None)
    monkeypatch.setattr(fake_extract_video, "options", options_seen, raising=False)
    return calls


def test_prepare_videos_fps_reaches_the_extractor_and_a_rerun_must_keep_the_settings(tmp_path, fake_extractor,
                                                                                      monkeypatch):
    import bharnet.video.extract as extract
    from bharnet.data.store import DatasetStore
    from bharnet.datasets.prepare import prepare_videos

    options = extract.extract_video.options
    root = _tree(tmp_path / "videos", {"wave": ["1.mp4", "2.mp4"], "clap": ["1.mp4", "2.mp4"]})
    prepare_videos(root, tmp_path / "a.store", fps=15, persons=1, workers=1, progress=False)
    assert len(options) == 4 and all(o["fps"] == 15 and o["body"] for o in options)
    assert DatasetStore(tmp_path / "a.store").manifest["info"]["fps"] == 15
    work = tmp_path / "a.store.extract"
    with pytest.raises(DataFormatError, match=r"other settings \(fps 15 then, None now\)"):
        prepare_videos(root, tmp_path / "b.store", work_dir=work, workers=1, progress=False)
    with pytest.raises(DataFormatError, match=r"mirrored False then, True now"):
        prepare_videos(root, tmp_path / "b.store", work_dir=work, fps=15, mirrored=True, workers=1, progress=False)
    assert not (tmp_path / "b.store").exists() and len(options) == 4  # refused before extracting anything
    prepare_videos(root, tmp_path / "b.store", work_dir=work, fps=15, workers=1, progress=False)  # the same: resumes
    assert len(options) == 4
    with pytest.raises(ValueError, match="--fps must be positive"):
        prepare_videos(root, tmp_path / "c.store", fps=-1, workers=1, progress=False)


def test_prepare_videos_end_to_end_with_the_extractor_mocked(tmp_path, fake_extractor):
    from bharnet.data.store import DatasetStore
    from bharnet.datasets.prepare import prepare_videos

    root = _tree(tmp_path / "videos", {"wave": ["1.mp4", "2.mp4", "3.mp4", "noperson.mp4", "notes.txt"],
                                       "ok_sign": ["1.mp4", "2.mp4", "broken.mp4"]})
    report = prepare_videos(root, tmp_path / "mine.store", workers=1, progress=False, seed=1)
    assert len(fake_extractor) == 7
    store = DatasetStore(tmp_path / "mine.store")
    assert report.written == len(store) == 5
    assert sorted(store.names) == ["ok_sign__1", "ok_sign__2", "wave__1", "wave__2", "wave__3"]
    info = store.manifest["info"]
    assert info["class_names"] == ["ok_sign", "wave"] and store.num_classes == 2
    assert {str(n): int(label) for n, label in zip(store.names, store.labels)}["wave__2"] == 1
    assert report.splits["random"]["train"] + report.splits["random"]["test"] == 5
    assert len(store.split("random", "test")) >= 2  # one per class at least
    text = report.format()
    assert "broken.mp4: cannot decode this video" in text and "noperson.mp4: no person found in any frame" in text
    assert "notes.txt: not a video file" in text
    assert "skipped 2 clip(s) (unreadable, or nobody in them)" in text
    assert "5 clip(s) extracted, 0 already in" in text and "1 with nobody in them, 1 unreadable" in text
    body = store.frames("body", 0)
    assert body.shape[1:] == (2, 25, 3) and store.frames("hands", 0).shape[1:] == (2, 21, 3)
    # resumable: a rerun extracts nothing again
    fake_extractor.clear()
    prepare_videos(root, tmp_path / "again.store", work_dir=tmp_path / "mine.store.extract", workers=1,
                   progress=False)
    assert fake_extractor == [str(root / "ok_sign" / "broken.mp4")]  # only the failed one is retried


def test_prepare_videos_fails_before_extracting(tmp_path, fake_extractor):
    from bharnet.datasets.prepare import prepare_videos

    root = _tree(tmp_path / "videos", {"wave": ["1.mp4", "2.mp4"], "clap": ["1.mp4"]})
    with pytest.raises(DataFormatError, match=r"clap \(1 clip\)"):
        prepare_videos(root, tmp_path / "x.store", workers=1, progress=False)
    assert fake_extractor == [] and not (tmp_path / "x.store").exists() and not (tmp_path / "x.store.extract").exists()
    shard = prepare_videos(_tree(tmp_path / "v2", {"a": ["1.mp4", "2.mp4"], "b": ["1.mp4", "2.mp4"]}),
                           tmp_path / "s.store", shard=(1, 2), workers=1, progress=False)
    assert len(fake_extractor) == 2 and not (tmp_path / "s.store").exists()
    assert "run every shard" in shard.format()


def test_prepare_videos_a_class_left_too_small_after_extraction(tmp_path, fake_extractor):
    from bharnet.datasets.prepare import prepare_videos

    root = _tree(tmp_path / "videos", {"wave": ["1.mp4", "2.mp4"], "clap": ["1.mp4", "noperson.mp4"]})
    with pytest.raises(DataFormatError, match=r"after extraction \(1 clip\(s\) unreadable .*clap \(1 clip\)"):
        prepare_videos(root, tmp_path / "x.store", workers=1, progress=False)
    assert not (tmp_path / "x.store").exists() and len(fake_extractor) == 4


def test_prepare_videos_command(tmp_path, fake_extractor, capsys):
    from bharnet.cli import main

    root = _tree(tmp_path / "videos", {"wave": ["1.mp4", "2.mp4"], "ok_sign": ["1.mp4", "2.mp4", "x.txt"]})
    out = tmp_path / "mine.store"
    assert main(["data", "prepare", "videos", str(root), "--out", str(out), "--workers", "1", "-q"]) == 0
    printed = capsys.readouterr().out
    assert "wrote 4 samples" in printed and "random: train 2, test 2" in printed and "x.txt: not a video" in printed
    assert main(["data", "prepare", "videos", str(root), "--out", str(out), "-q"]) == 1  # exists
    assert "--overwrite" in capsys.readouterr().err
    assert main(["data", "prepare", "videos", "--out", str(tmp_path / "y.store")]) == 1
    assert "one of the two" in capsys.readouterr().err
    assert main(["data", "prepare", "ntu60", str(root), "--out", str(tmp_path / "y.store")]) == 1
    assert "ROOT and --list are for `prepare videos`" in capsys.readouterr().err
    (root / "clap").mkdir()
    assert main(["data", "prepare", "videos", str(root), "--out", str(tmp_path / "z.store")]) == 1
    assert "class folder(s) with no video: clap (0 clips" in capsys.readouterr().err
    assert not (tmp_path / "z.store").exists()


@needs_mediapipe
def test_prepare_videos_on_the_real_clip(tmp_path):
    """Clips cut from the real NTU video (forward and time-reversed as two 'classes'): the real extractor, the
    store's body and hands from MediaPipe."""
    import cv2
    import numpy as np

    from bharnet.data.store import DatasetStore
    from bharnet.datasets.prepare import prepare_videos

    video = require_shared("ntu", "samples", "S001C001P001R001A001_rgb.avi")
    cap = cv2.VideoCapture(str(video))
    frames = [cap.read()[1] for _ in range(60)]
    cap.release()
    clips = {"forward/a.avi": frames[:30], "forward/b.avi": frames[30:], "reversed/a.avi": frames[:30][::-1],
             "reversed/b.avi": frames[30:][::-1]}
    for name, part in clips.items():
        path = tmp_path / "videos" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        small = [cv2.resize(f, (960, 540)) for f in part]
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (960, 540))
        for f in small:
            writer.write(f)
        writer.release()
    report = prepare_videos(tmp_path / "videos", tmp_path / "real.store", mirrored=True, workers=1, progress=False)
    store = DatasetStore(tmp_path / "real.store")
    assert report.written == 4 and store.manifest["info"]["class_names"] == ["forward", "reversed"]
    body = store.frames("body", 0)
    assert body.shape[1:] == (2, 25, 3) and np.abs(body[:, 0]).sum() > 0 and not body[:, 1].any()
    assert store.frames("hand_mask", 0).mean() > 0.3  # hands found in the real frames


def test_a_model_trained_on_your_videos_names_your_classes(tmp_path, fake_extractor):
    """prepare videos -> train: the run's checkpoints carry the class folders' names; predict's spec prints them."""
    import yaml

    from bharnet.cli import main
    from bharnet.datasets.prepare import prepare_videos
    from bharnet.deploy.predict import Predictor

    root = _tree(tmp_path / "videos", {"wave": ["1.mp4", "2.mp4", "3.mp4"], "ok_sign": ["1.mp4", "2.mp4", "3.mp4"]})
    prepare_videos(root, tmp_path / "mine.store", workers=1, progress=False)
    cfg = {"name": "mine", "out_dir": str(tmp_path / "runs"), "seed": 0,
           "data": {"store": str(tmp_path / "mine.store"), "protocol": "random", "window": 16, "batch_size": 2,
                    "test_batch_size": 2, "num_workers": 0, "streams": ["body", "hand"]},
           "model": {"name": "score_fusion", "args": {"backbone": "stgcn", "num_persons": 2, "base_channels": 8}},
           "trainer": {"epochs": 1, "progress": False, "accelerator": "cpu"}}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", "-c", str(tmp_path / "cfg.yaml")]) == 0
    best = tmp_path / "runs" / "mine" / "best.pt"
    assert Predictor(best).spec.class_names == ["ok_sign", "wave"]


def test_init_config_then_train(tmp_path, fake_extractor, capsys):
    """prepare videos -> init-config -> train: the written config is complete, commented and trains as it is."""
    import yaml

    from bharnet.cli import main
    from bharnet.datasets.prepare import prepare_videos

    root = _tree(tmp_path / "videos", {"wave": ["1.mp4", "2.mp4", "3.mp4"], "ok_sign": ["1.mp4", "2.mp4", "3.mp4"]})
    store = tmp_path / "mine.store"
    prepare_videos(root, store, workers=1, progress=False)
    cfg = tmp_path / "cfg.yaml"
    assert main(["init-config", str(store), "--out", str(cfg), "--device", "cpu"]) == 0
    assert f"next: bharnet train -c {cfg}" in capsys.readouterr().out
    text = cfg.read_text()
    assert text.count("#") >= 10 and "bharnet train -c" in text
    config = yaml.safe_load(text)
    assert config["data"]["window"] == 30 and config["data"]["protocol"] == "random"  # the clips' 30 frames
    assert config["model"] == {"name": "score_fusion", "args": {"backbone": "stgcn", "num_persons": 2,
                                                                 "base_channels": 32, "num_frames": 30}}
    assert config["eval"]["class_names"] == ["ok_sign", "wave"] and 30 <= config["trainer"]["epochs"] <= 80
    assert main(["init-config", str(store), "--out", str(cfg)]) == 1  # exists
    assert "--overwrite" in capsys.readouterr().err
    assert main(["init-config", str(store), "--out", str(tmp_path / "x.yaml"), "--init-body", "none.pt"]) == 1
    assert "--init-body none.pt: no such checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "x.yaml").exists()
    assert main(["train", "-c", str(cfg), "trainer.epochs=1", "trainer.progress=false",
                 f"out_dir={tmp_path / 'runs'}", "data.num_workers=0", "model.args.base_channels=8"]) == 0
    assert (tmp_path / "runs" / "mine" / "best.pt").is_file()


def test_the_trial_set_tool_makes_a_listable_set_and_each_bad_case_fails_as_documented(tmp_path):
    """tools/make_action_videos.py (the tutorial's trial): five classes of readable clips, and bad-input cases
    that `prepare videos` refuses (before extracting) with the messages docs/tutorial.md shows."""
    import importlib.util
    from pathlib import Path

    import cv2
    import numpy as np

    spec = importlib.util.spec_from_file_location(
        "make_action_videos", Path(__file__).resolve().parents[1] / "tools" / "make_action_videos.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    frames = [np.full((48, 64, 3), 6 * i, np.uint8) for i in range(40)]  # a brightness ramp: the time order
    assert tool.make_set(frames, 30.0, tmp_path / "videos", clips=2, length=8) == 10
    videos = list_videos(tmp_path / "videos")
    assert videos.class_names == sorted(tool.TRANSFORMS) and len(videos.entries) == 10
    assert [m for _, m in videos.skipped] == [f"{tmp_path / 'videos' / 'forward' / 'notes.txt'}: not a video file "
                                              "(suffix .txt); skipped"]
    reversed_clip = cv2.VideoCapture(str(tmp_path / "videos" / "reversed" / "clip1.avi"))
    levels = []
    while (got := reversed_clip.read())[0]:
        levels.append(int(got[1][..., 0].mean()))
    assert len(levels) == 8 and all(a > b for a, b in zip(levels, levels[1:]))  # played backwards
    bad = tool.make_bad(frames, 30.0, tmp_path / "bad", length=8)
    with pytest.raises(DataFormatError, match=r"class folder\(s\) with no video: clap \(0 clips"):
        list_videos(bad[0])
    with pytest.raises(DataFormatError, match=r"fewer than 2 clips.*clap \(1 clip\)"):
        split_videos(list_videos(bad[1]))
    junk = list_videos(bad[2])
    assert len(junk.entries) == 5 and any("readme.txt" in m for _, m in junk.skipped)  # c.mp4 fails at extraction
    with pytest.raises(DataFormatError, match=r"3 listed video\(s\) do not exist .*line 2: clips/wave1.mp4"):
        list_videos(list_file=bad[4])
