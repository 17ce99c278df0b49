"""The trainer's fault paths (docs/reliability.md): a bad --workdir is refused before anything is written, a
file where a trial directory goes is left alone, the failure path never raises."""
import os

import pytest

from influence_mem.formats import trial as trial_format
from influence_mem.train import claims, outputs


@pytest.mark.parametrize("bad", ["", "  ", "file", "/proc/self/x"])
def test_a_bad_workdir_is_refused_before_anything_is_written(tmp_path, bad):
    (tmp_path / "file").write_text("x")
    workdir = str(tmp_path / bad) if bad == "file" else bad
    with pytest.raises(ValueError, match="--workdir"):
        outputs.check_workdir(workdir)
    assert sorted(os.listdir(tmp_path)) == ["file"]


def test_a_file_where_a_trial_directory_goes_is_reported_and_left_alone(tmp_path):
    temp = tmp_path / "temp"
    temp.mkdir()
    (temp / trial_format.AUX_FILE).write_bytes(b"x")
    final = tmp_path / "3"
    final.write_text("someone's file")
    with pytest.raises(ValueError, match="a file stands where the trial's directory goes"):
        outputs.commit_trial(str(temp), str(final))
    assert final.read_text() == "someone's file"


def test_the_failure_path_never_raises_when_failed_json_cannot_be_written(tmp_path, monkeypatch, capsys):
    claim = claims.claim_trial(str(tmp_path), 0.7, 0)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(claims, "write_json", full_disk)
    claim.release(failure="boom")
    assert "could not record the failure" in capsys.readouterr().err
