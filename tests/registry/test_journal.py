import json

import pytest

from gramops.core.fileio import canonical_bytes
from gramops.registry.journal import (
    Pending,
    committed_entry_names,
    journal_committed,
    parse_journal,
    stray_tmp,
    uncommitted,
)
from gramops.registry.layout import RegistryError

A, B = "a" * 64, "b" * 64
LOG = b'{"op":"register","seq":1}\n'


def _journal(previous=None):
    """A tag journaled after LOG's one record."""
    return {"op": "tag", "index_size": len(LOG), "previous": previous or {"tags.json": "{}\n"}}


def test_a_journal_is_parsed_into_op_size_and_previous_documents():
    raw = json.dumps({"op": "alias", "index_size": "12", "previous": {"aliases.json": None}})
    assert parse_journal(raw.encode(), "j") == {
        "op": "alias",
        "index_size": 12,
        "previous": {"aliases.json": None},
    }


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b'{"op": "tag", "previous": {}}',
        b'{"op": "tag", "index_size": 0, "previous": {"tags.json": 3}}',
    ],
)
def test_an_unreadable_journal_says_how_to_recover(raw):
    with pytest.raises(RegistryError, match="^reg/.journal.json: unreadable journal.*git"):
        parse_journal(raw, "reg/.journal.json")


def test_the_log_line_of_the_journaled_op_is_the_commit_point():
    line = canonical_bytes({"op": "tag", "seq": 2}) + b"\n"
    journal = _journal()
    assert journal_committed(journal, LOG + line)
    assert not journal_committed(journal, LOG)  # no line yet
    assert not journal_committed(journal, LOG + line[:-1])  # torn: no newline
    assert not journal_committed(journal, LOG + line.replace(b"tag", b"alias"))  # another op
    assert not journal_committed(journal, LOG + line + line)  # more than one line


def test_an_uncommitted_journal_is_what_readers_see_instead():
    journal = _journal(previous={"tags.json": None})
    assert uncommitted(journal, LOG) == Pending({"tags.json": None}, len(LOG))
    line = canonical_bytes({"op": "tag"}) + b"\n"
    assert uncommitted(journal, LOG + line) is None


def test_committed_entry_names_hide_a_pending_register_and_keep_a_pending_delete():
    pending = Pending({f"entries/{A}.json": None, f"entries/{B}.json": "{}", "tags.json": "{}"}, 0)
    names = [f"{A}.json", "c.json"]
    assert committed_entry_names(names, pending) == ["b" * 64 + ".json", "c.json"]
    assert committed_entry_names(names, None) == sorted(names)


def test_only_our_own_tmp_files_count_as_stray():
    top = ["tags.json.tmp", "aliases.json.tmp", "notes.txt.tmp", ".journal.json.tmp"]
    entries = [f"{A}.json.tmp", "mine.json.tmp", f"{B}.json.tmp.tmp"]
    assert stray_tmp(top, entries) == [
        ".journal.json.tmp",
        "aliases.json.tmp",
        f"entries/{A}.json.tmp",
        "tags.json.tmp",
    ]
