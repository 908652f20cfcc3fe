import os
import stat

import pytest

from tapeout.files import write_atomic, write_json_atomic


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
