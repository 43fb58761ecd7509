"""Output folders and checkpoints get the permissions of an ordinary write (0666 / 0777 less the umask), not
tempfile's private 0600 / 0700."""

import os
import stat

import pytest

from muskie.outputs import current_umask, files_into, output_folder, with_umask_permissions


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_current_umask_reads_the_process_umask(umask):
    assert current_umask() == umask


def test_output_folders_and_their_files_follow_the_umask(tmp_path, umask):
    with output_folder(tmp_path / "out") as folder:
        (folder / "result.txt").write_text("1")
    assert mode(tmp_path / "out") == 0o777 & ~umask
    assert mode(tmp_path / "out" / "result.txt") == 0o666 & ~umask
    with files_into(tmp_path / "fresh") as folder:
        (folder / "a.txt").write_text("1")
    assert mode(tmp_path / "fresh") == 0o777 & ~umask


def test_checkpoints_follow_the_umask(tmp_path, umask):
    from muskie.weights.checkpoint import atomic_torch_save

    atomic_torch_save({"step": 1}, tmp_path / "checkpoint-last.pt")
    assert mode(tmp_path / "checkpoint-last.pt") == 0o666 & ~umask


def test_with_umask_permissions_opens_up_a_private_file(tmp_path, umask):
    path = tmp_path / "f"
    path.write_text("")
    os.chmod(path, 0o600)
    with_umask_permissions(path)
    assert mode(path) == 0o666 & ~umask
