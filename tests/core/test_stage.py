"""The stage runner records when a stage run by DVC started and ended, outside every output."""

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import gramops
from gramops.core.errors import GramopsError
from gramops.core.stage import (
    STAGE_TIMES,
    read_stage_times,
    record_stage_time,
    run,
)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(logging, "basicConfig", lambda **_: None)
    return tmp_path


def test_a_stage_run_by_dvc_records_its_start_and_end(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DVC_STAGE", "evaluate@fp32")
    called = []
    run(lambda: called.append(time.time()))
    (row,) = [json.loads(line) for line in (in_tmp / STAGE_TIMES).read_text().splitlines()]
    assert row["stage"] == "evaluate@fp32"
    # the start is the process's, before main ran (a stage's imports are part of its time)
    assert row["start_ms"] <= int(called[0] * 1000) <= row["end_ms"] <= time.time() * 1000
    assert read_stage_times(in_tmp / STAGE_TIMES) == {
        "evaluate@fp32": (row["start_ms"], row["end_ms"])
    }


def test_no_record_outside_dvc_or_when_the_stage_fails(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DVC_STAGE", raising=False)
    run(lambda: None)
    assert not (in_tmp / STAGE_TIMES).exists()

    def fail() -> None:
        raise GramopsError("bad input")

    monkeypatch.setenv("DVC_STAGE", "train")
    with pytest.raises(SystemExit):
        run(fail)
    assert not (in_tmp / STAGE_TIMES).exists()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads Linux /proc")
def test_process_start_is_when_the_process_was_launched() -> None:
    code = "import time; from gramops.core.stage import process_start; print(process_start(0.0))"
    launched = time.time()
    env = {**os.environ, "PYTHONPATH": str(Path(gramops.__file__).parents[1])}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    # to the clock tick (10 ms), and before the interpreter's own start-up and imports
    assert launched - 0.05 < float(out.stdout) < launched + 0.5


def test_unreadable_lines_are_skipped_and_the_latest_record_wins(tmp_path: Path) -> None:
    path = tmp_path / "times.jsonl"
    record_stage_time("train", 10.0, 12.0, path)
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"stage": "train", "start_ms": 5}\n{"stage": "gate", "sta')
        handle.write('\n{"stage": "prepare", "start_ms": 9, "end_ms": 3}\n')
    record_stage_time("shift", 20.0, 21.0, path)
    record_stage_time("train", 30.0, 33.0, path)
    assert read_stage_times(path) == {"train": (30_000, 33_000), "shift": (20_000, 21_000)}
    assert read_stage_times(tmp_path / "none.jsonl") == {}
