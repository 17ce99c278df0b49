"""train.claims: exclusive claims, stale ones taken over, the heartbeat, and a lost claim left alone."""
import json
import os
import socket
import subprocess
import sys
import time

from influence_mem.train import claims


def test_claims_are_exclusive_and_stale_ones_are_taken_over(tmp_path, monkeypatch):
    workdir = str(tmp_path)
    mine = claims.claim_trial(workdir, 0.7, 5)
    assert mine is not None and claims.claim_trial(workdir, 0.7, 5) is None
    assert claims.claim_state(mine.work)[0] == "live"
    mine.release(failure="ValueError: boom")
    assert json.loads((tmp_path / "0.7" / ".5.inprogress" / "failed.json").read_text())["error"] == "ValueError: boom"
    assert claims.claim_state(mine.work)[0] == "none"

    # A killed worker on this host: its claim is stale at once; the checkpoints stay.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    work = tmp_path / "0.7" / ".6.inprogress"
    (work / "ckpt").mkdir(parents=True)
    (work / "ckpt" / "keep").write_text("x")
    (work / "claim.json").write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid, "token": "t"}))
    taken = claims.claim_trial(workdir, 0.7, 6)
    assert taken is not None and taken.owner["pid"] == os.getpid() and (work / "ckpt" / "keep").exists()
    taken.release()

    # Another host: live while its heartbeat is fresh, stale after the timeout.
    work = tmp_path / "0.7" / ".7.inprogress"
    work.mkdir()
    (work / "claim.json").write_text(json.dumps({"host": "elsewhere", "pid": 1, "token": "u"}))
    assert claims.claim_trial(workdir, 0.7, 7, stale_seconds=600) is None
    old = time.time() - 601
    os.utime(work / "claim.json", (old, old))
    assert claims.claim_state(str(work), 600)[0] == "stale"
    monkeypatch.setattr(claims, "HEARTBEAT_SECONDS", 0.05)
    taken = claims.claim_trial(workdir, 0.7, 7, stale_seconds=600)
    assert taken is not None
    os.utime(work / "claim.json", (old, old))
    time.sleep(0.5)  # the heartbeat refreshes it
    assert claims.claim_state(str(work), 600)[0] == "live"

    # The worker that lost its claim notices and leaves the new owner's claim alone.
    monkeypatch.setattr(claims, "HEARTBEAT_SECONDS", 60.0)
    time.sleep(0.2)  # the heartbeat thread is now in its long wait
    (work / "claim.json").write_text(json.dumps({"host": "elsewhere", "pid": 2, "token": "v"}))
    assert not taken.held()
    taken.release()
    assert json.loads((work / "claim.json").read_text())["token"] == "v"
