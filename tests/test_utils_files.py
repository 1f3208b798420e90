"""The one atomic writer: a file is wholly written or not there, and a failure leaves the old one."""
from __future__ import annotations

import numpy as np
import pytest

from bharnet.utils.files import atomic_path, write_bytes_atomic, write_text_atomic


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_writes_and_replaces(tmp_path):
    out = tmp_path / "sub" / "a.txt"
    write_text_atomic(out, "first")
    write_text_atomic(out, "second")
    assert out.read_text() == "second"
    write_bytes_atomic(out, b"\x00\x01")
    assert out.read_bytes() == b"\x00\x01"
    assert leftovers(out.parent) == []


def test_failure_keeps_the_previous_file_and_no_temporary(tmp_path):
    out = tmp_path / "scores.npz"
    write_bytes_atomic(out, b"old")
    with pytest.raises(RuntimeError, match="validation"):
        with atomic_path(out) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, x=np.arange(3))
            raise RuntimeError("validation failed")
    assert out.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_interrupt_removes_the_temporary(tmp_path):
    out = tmp_path / "x.bin"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(out) as tmp:
            tmp.write_bytes(b"partial")
            raise KeyboardInterrupt
    assert not out.exists() and leftovers(tmp_path) == []


def test_nothing_written_is_an_error_naming_the_file(tmp_path):
    out = tmp_path / "empty.json"
    with pytest.raises(FileNotFoundError, match="empty.json"):
        with atomic_path(out):
            pass
    assert not out.exists()


def test_temporary_names_differ_between_writers(tmp_path):
    with atomic_path(tmp_path / "a") as one, atomic_path(tmp_path / "a") as two:
        assert one != two and one.parent == two.parent == tmp_path
        one.write_bytes(b"1")
        two.write_bytes(b"2")
    assert (tmp_path / "a").read_bytes() == b"1"  # the outer block finishes last
