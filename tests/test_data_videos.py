"""A user's own videos: class folders or a CSV list -> clips, class names and splits, every bad input a clear
error naming it (nothing is extracted here: the files only need to exist)."""
import pytest

from bharnet.data.sample import DataFormatError
from bharnet.data.videos import MIN_CLIPS, list_videos, split_videos


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
