import errno
import os
import stat

import pytest

from core.errors import UserError
from core.files import write_atomic, write_files, write_json_atomic, write_set, write_text_atomic


def test_failed_write_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "report.json"
    write_json_atomic(target, {"a": 1})

    def half(tmp):
        tmp.write_text('{"a": ')
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_atomic(target, half)
    assert target.read_text() == '{\n  "a": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_outputs_get_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_json_atomic(tmp_path / "x.json", [])
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_set_with_a_failing_member_leaves_nothing(tmp_path):
    old = tmp_path / "kept.md"
    old.write_text("old")

    def fail(tmp):
        tmp.write_bytes(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(UserError, match=r"cannot write .*new\.json: No space left on device"):
        write_set({tmp_path / "sub" / "a.png": lambda tmp: tmp.write_bytes(b"png"),
                   old: lambda tmp: tmp.write_text("new"),
                   tmp_path / "sub" / "new.json": fail})
    assert [p.name for p in tmp_path.iterdir()] == ["kept.md"]  # no destinations, temporaries, sub/
    assert old.read_text() == "old"


def test_set_is_written_only_when_every_member_is(tmp_path):
    paths = write_files({tmp_path / "d" / "a.txt": "ä", tmp_path / "b.bin": b"\x00"})
    assert paths == [tmp_path / "d" / "a.txt", tmp_path / "b.bin"]
    assert paths[0].read_bytes() == "ä".encode() and paths[1].read_bytes() == b"\x00"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.txt", "b.bin", "d"]


def test_set_refuses_a_directory_destination_before_writing(tmp_path):
    (tmp_path / "report.json").mkdir()
    with pytest.raises(UserError, match=r"report\.json: it is an existing directory"):
        write_files({tmp_path / "report.md": "x", tmp_path / "report.json": "{}"})
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_set_refuses_a_file_as_parent(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(UserError, match=r"cannot write .*f/out/a\.md: .*f is not a directory"):
        write_text_atomic(tmp_path / "f" / "out" / "a.md", "x")


def test_writer_sees_the_destination_suffix_and_its_file_gets_normal_permissions(tmp_path):
    """A writer that picks a format by suffix (trace .gz) sees the right one; a writer that
    replaces the temporary with its own 0600 file (safetensors) still yields umask permissions."""
    seen = []

    def replace_with_private_file(tmp):
        seen.append(tmp.name)
        private = tmp.with_name("private")
        private.write_bytes(b"x")
        private.chmod(0o600)
        os.replace(private, tmp)

    old = os.umask(0o022)
    try:
        path = write_atomic(tmp_path / "t.json.gz", replace_with_private_file)
    finally:
        os.umask(old)
    assert seen[0].endswith("-t.json.gz") and seen[0].startswith(".")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
