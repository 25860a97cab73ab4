"""The request log: one JSON line per record, rotation by size, nothing lost on close."""

import json
import threading

import pytest

from gramops.serving.requestlog import RequestLog


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_record_written_from_many_threads_is_flushed_on_close(tmp_path):
    log = RequestLog(tmp_path / "logs" / "requests.jsonl", max_bytes=10**9, backups=1)
    log.start()

    def writer(n):
        for i in range(500):
            log.write({"thread": n, "i": i, "text": "She ___ home. é"})

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()  # no sleep: close itself drains the queue
    lines = _lines(log.path)
    assert len(lines) == 2000 and log.lines == 2000 and log.pending == 0
    assert {(r["thread"], r["i"]) for r in lines} == {(n, i) for n in range(4) for i in range(500)}
    assert lines[0]["text"] == "She ___ home. é"


def test_rotation_keeps_each_file_under_the_limit_and_the_newest_backups(tmp_path):
    path = tmp_path / "requests.jsonl"
    log = RequestLog(path, max_bytes=1000, backups=2)
    log.start()
    for i in range(100):
        log.write({"i": i, "pad": "x" * 80})  # ~100 bytes a line: ~10 lines a file
    log.close()
    files = [path, path.with_name("requests.jsonl.1"), path.with_name("requests.jsonl.2")]
    assert all(f.stat().st_size <= 1000 for f in files)
    assert not path.with_name("requests.jsonl.3").exists()
    kept = [r["i"] for f in reversed(files) for r in _lines(f)]
    assert kept == list(range(100 - len(kept), 100))  # the newest, in order, none missing
    assert log.rotations >= 9


def test_appends_to_an_existing_log_and_skips_an_unserialisable_record(tmp_path):
    path = tmp_path / "requests.jsonl"
    path.write_text('{"i": -1}\n')
    log = RequestLog(path, max_bytes=10**6, backups=1)
    log.start()
    log.write({"i": 0, "bad": object()})
    log.write({"i": 1})
    log.close()
    assert [r["i"] for r in _lines(path)] == [-1, 1] and log.errors == 1


def test_a_log_needs_room():
    with pytest.raises(ValueError, match="max_bytes"):
        RequestLog("x.jsonl", max_bytes=0, backups=1)
