"""Readers for the Princeton WordNet 3.0 database files (``data.*``, ``index.*``, ``*.exc``).

Only what the corpus needs is parsed: synset lemmas and gloss examples, the lemma lists
of the index files, and the irregular-form exception lists. The format is documented in
WordNet's ``wndb(5WN)`` manual page; every line is validated so that a corrupted or
truncated download stops the pipeline with the file and line numbers instead of
silently producing a smaller corpus. ``prepare.malformed_lines: skip`` is the explicit
opt-in for a database known to hold a few bad lines: they are dropped with a warning
that gives their line numbers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gramops.core.errors import GramopsError
from gramops.corpus.lexicon import VerbLexicon

log = logging.getLogger(__name__)

MalformedPolicy = Literal["fail", "skip"]
MALFORMED_POLICIES: tuple[str, ...] = ("fail", "skip")
# How many malformed line numbers a message lists before summarising the rest as a count.
REPORTED_LINES = 5

SS_TYPES = frozenset("nvasr")
_EXAMPLE = re.compile(r'"([^"]*)"')
# Syntactic markers of adjective lemmas: attributive, predicative, immediately postnominal.
_ADJ_MARKER = re.compile(r"\((?:a|p|ip)\)$")
_OFFSET = re.compile(r"\d{8}")


class CorpusError(GramopsError, ValueError):
    """WordNet input is missing or malformed; the message names the file (and line)."""


@dataclass(frozen=True)
class Synset:
    """One line of a ``data.POS`` file, reduced to what the corpus uses."""

    offset: str
    ss_type: str
    lemmas: tuple[str, ...]
    gloss: str
    # verb synsets only: (frame number, word number; 0 = every word of the synset) pairs,
    # the generic sentence frames of wndb(5WN) ("Somebody ----s something" is frame 8)
    frames: tuple[tuple[int, int], ...] = ()
    # the lexicographer file (``lexnames``: 42 is verb.stative)
    lex_filenum: int = 0

    @property
    def key(self) -> str:
        """Stable synset id, e.g. ``00002724-v`` (offsets alone collide across POS files)."""
        return f"{self.offset}-{self.ss_type}"

    @property
    def examples(self) -> tuple[str, ...]:
        """The quoted example sentences of the gloss, in gloss order, stripped."""
        return tuple(m.group(1).strip() for m in _EXAMPLE.finditer(self.gloss))


def require_file(path: Path) -> Path:
    """Return ``path`` if it is a file, else raise :class:`CorpusError` saying what to do."""
    if not path.is_file():
        raise CorpusError(
            f"{path}: WordNet file not found; point prepare at a WordNet 3.0 dict/ directory "
            "(the output of the pull_corpus stage)"
        )
    return path


class MalformedLineError(CorpusError):
    """One line of a WordNet file does not follow ``wndb(5WN)``; keeps where and why."""

    def __init__(self, path: Path, lineno: int, reason: str) -> None:
        super().__init__(f"{path}:{lineno}: malformed WordNet data line: {reason}")
        self.path = path
        self.lineno = lineno
        self.reason = reason


def _malformed(path: Path, lineno: int, why: str) -> MalformedLineError:
    return MalformedLineError(path, lineno, why)


def parse_data_line(line: str, path: Path, lineno: int) -> Synset:
    """Parse one synset line; raise :class:`CorpusError` naming ``path:lineno`` if malformed."""
    head, sep, gloss = line.partition("|")
    if not sep:
        raise _malformed(path, lineno, "no '|' before the gloss")
    fields = head.split()
    if len(fields) < 6:
        raise _malformed(path, lineno, f"expected at least 6 fields, got {len(fields)}")
    offset, lex_filenum, ss_type, w_hex = fields[:4]
    if not _OFFSET.fullmatch(offset):
        raise _malformed(path, lineno, f"offset {offset!r} is not 8 digits")
    if not lex_filenum.isdigit():
        raise _malformed(path, lineno, f"lexicographer file {lex_filenum!r} is not a number")
    if ss_type not in SS_TYPES:
        raise _malformed(path, lineno, f"unknown synset type {ss_type!r}")
    try:
        w_cnt = int(w_hex, 16)
    except ValueError:
        raise _malformed(path, lineno, f"word count {w_hex!r} is not hexadecimal") from None
    pos = 4 + 2 * w_cnt
    if w_cnt == 0 or len(fields) <= pos:
        raise _malformed(path, lineno, f"word count {w_cnt} does not match the fields")
    lemmas = tuple(_ADJ_MARKER.sub("", fields[i]) for i in range(4, pos, 2))
    p_cnt = fields[pos]
    if not p_cnt.isdigit():
        raise _malformed(path, lineno, f"pointer count {p_cnt!r} is not a number")
    end = pos + 1 + 4 * int(p_cnt)
    if len(fields) < end:
        raise _malformed(path, lineno, f"{p_cnt} pointers announced, fewer present")
    frames = _frames(fields, end, path, lineno) if ss_type == "v" else ()
    return Synset(offset, ss_type, lemmas, gloss.strip(), frames, int(lex_filenum))


def _frames(fields: list[str], at: int, path: Path, lineno: int) -> tuple[tuple[int, int], ...]:
    """A verb line's ``f_cnt + f_num w_num ...`` list after its pointers."""
    if len(fields) <= at:
        return ()
    count = fields[at]
    if not count.isdigit() or len(fields) < at + 1 + 3 * int(count):
        raise _malformed(path, lineno, f"frame count {count!r} does not match the fields")
    frames = []
    for k in range(at + 1, at + 1 + 3 * int(count), 3):
        plus, number, word = fields[k : k + 3]
        if plus != "+" or not number.isdigit():
            raise _malformed(path, lineno, f"frame {plus} {number} {word} is not '+ f_num w_num'")
        try:
            frames.append((int(number), int(word, 16)))
        except ValueError:
            raise _malformed(path, lineno, f"frame word number {word!r} is not hex") from None
    return tuple(frames)


def _line_list(linenos: list[int]) -> str:
    shown = ", ".join(str(n) for n in linenos[:REPORTED_LINES])
    rest = len(linenos) - REPORTED_LINES
    return shown + (f" and {rest} more" if rest > 0 else "")


def check_policy(policy: str) -> None:
    """Refuse an unknown ``prepare.malformed_lines`` before any file is read."""
    if policy not in MALFORMED_POLICIES:
        raise CorpusError(
            f"prepare.malformed_lines: {policy!r} is not allowed (allowed: "
            f"{', '.join(MALFORMED_POLICIES)})"
        )


def handle_malformed(
    path: Path, problems: list[tuple[int, str]], policy: MalformedPolicy, kind: str
) -> None:
    """Apply ``prepare.malformed_lines`` to the (line number, reason) problems of one file.

    ``fail`` raises one :class:`CorpusError` naming the file, the first line numbers and
    how many there are, so a damaged download is diagnosed in one run; ``skip`` logs the
    same at WARNING and lets the caller carry on without those lines.
    """
    check_policy(policy)
    if not problems:
        return
    linenos = [lineno for lineno, _ in problems]
    first_line, first_reason = problems[0]
    where = f"{len(problems)} malformed line(s) at line(s) {_line_list(linenos)}"
    if policy == "fail":
        raise CorpusError(
            f"{path}:{first_line}: malformed {kind} line: {first_reason}; {where}. Re-run "
            "pull_corpus to get an intact database, or set prepare.malformed_lines to 'skip' "
            f"(allowed: {', '.join(MALFORMED_POLICIES)}) to drop them"
        )
    log.warning("%s: skipped %s (prepare.malformed_lines: skip)", path, where)


def _content_lines(path: Path, problems: list[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, line) skipping the indented license header.

    A line that is not UTF-8 (a corrupted byte) is recorded in ``problems`` instead of
    being yielded, so it follows the malformed-lines policy like any other bad line.
    """
    with require_file(path).open("rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                problems.append(
                    (
                        lineno,
                        f"not UTF-8 text (byte {raw[exc.start]:#04x} at column {exc.start + 1})",
                    )
                )
                continue
            if line.startswith("  ") or not line.strip():
                continue
            yield lineno, line


def read_synsets(path: Path, malformed: MalformedPolicy = "fail") -> list[Synset]:
    """Parse a whole ``data.POS`` file, in file order; malformed lines per ``malformed``.

    Every line is checked before anything is returned, so ``fail`` reports all the bad
    lines of the file at once rather than the first one only.
    """
    check_policy(malformed)
    synsets: list[Synset] = []
    problems: list[tuple[int, str]] = []
    for lineno, line in _content_lines(path, problems):
        try:
            synsets.append(parse_data_line(line, path, lineno))
        except MalformedLineError as exc:
            problems.append((exc.lineno, exc.reason))
    handle_malformed(path, problems, malformed, "WordNet data")
    return synsets


def index_line_problem(fields: list[str]) -> str | None:
    """Why the fields of an ``index.POS`` line break ``wndb(5WN)``, or None if they do not.

    ``lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt synset_offset...``:
    the two counts fix the number of fields, so a truncated line is always caught.
    """
    if len(fields) < 7:
        return f"expected at least 7 fields, got {len(fields)}"
    if fields[1] not in SS_TYPES:
        return f"unknown part of speech {fields[1]!r}"
    if not (fields[2].isdigit() and fields[3].isdigit()):
        return f"synset and pointer counts {fields[2]!r} {fields[3]!r} are not numbers"
    expected = 6 + int(fields[3]) + int(fields[2])
    if len(fields) != expected:
        return f"the counts announce {expected} fields, the line has {len(fields)}"
    offsets = fields[expected - int(fields[2]) :]
    if not all(_OFFSET.fullmatch(o) for o in offsets):
        return "a synset offset is not 8 digits"
    return None


def read_index_lemmas(path: Path, malformed: MalformedPolicy = "fail") -> frozenset[str]:
    """Lemmas of an ``index.POS`` file (first field of each line), lowercase."""
    check_policy(malformed)
    lemmas: set[str] = set()
    problems: list[tuple[int, str]] = []
    for lineno, line in _content_lines(path, problems):
        fields = line.split()
        problem = index_line_problem(fields)
        if problem is None:
            lemmas.add(fields[0].lower())
        else:
            problems.append((lineno, problem))
    handle_malformed(path, problems, malformed, "WordNet index")
    return frozenset(lemmas)


def read_exceptions(path: Path, malformed: MalformedPolicy = "fail") -> dict[str, tuple[str, ...]]:
    """Map each lemma of a ``POS.exc`` file to its irregular forms (file order).

    ``verb.exc`` lists forms lemminflect does not know (``airdropped``, ``abought``).
    Multiword entries (``allowed_for allow_for``) are skipped: their head word has its own.
    Lines without a form and a lemma are handled per ``malformed``.
    """
    check_policy(malformed)
    forms: dict[str, list[str]] = {}
    problems: list[tuple[int, str]] = []
    for lineno, line in _content_lines(path, problems):
        fields = line.split()
        if len(fields) < 2:
            problems.append((lineno, "expected 'form lemma'"))
            continue
        if "_" in line:
            continue
        for lemma in fields[1:]:
            forms.setdefault(lemma.lower(), []).append(fields[0].lower())
    handle_malformed(path, problems, malformed, "exception")
    return {lemma: tuple(dict.fromkeys(values)) for lemma, values in forms.items()}


def read_first_senses(path: Path) -> dict[str, str]:
    """Each lemma of an ``index.POS`` file (lowercase) and the offset of its first sense,
    the most frequent in WordNet's tagged texts; a malformed line fails, naming it."""
    first: dict[str, str] = {}
    problems: list[tuple[int, str]] = []
    for lineno, line in _content_lines(path, problems):
        fields = line.split()
        problem = index_line_problem(fields)
        if problem is not None:
            problems.append((lineno, problem))
            continue
        first[fields[0].lower()] = fields[-int(fields[2])]
    handle_malformed(path, problems, "fail", "WordNet index")
    return first


def read_lexnames(path: Path) -> dict[int, str]:
    """``lexnames``: lexicographer file number -> name (``42`` -> ``verb.stative``)."""
    names = {}
    for lineno, line in enumerate(require_file(path).read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if len(fields) != 3 or not fields[0].isdigit():
            raise _malformed(path, lineno, f"expected 'number name category', got {line!r}")
        names[int(fields[0])] = fields[1]
    return names


# wndb(5WN) frames whose verb takes an object (something, somebody, a clause, or both)
TRANSITIVE_FRAMES = frozenset(
    (8, 9, 10, 11, 14, 15, 16, 17, 18, 19, 20, 21, 24, 25, 26, 28, 29, 30, 31, 32, 33, 34, 35)
)


def valency_classes(synsets: Iterable[Synset]) -> dict[str, str]:
    """Each verb lemma's valency from the sentence frames of its senses: ``intr`` when no
    sense has a frame with an object, ``trans`` when all have one, ``mostly-intr`` or
    ``mostly-trans`` in between; a lemma none of whose senses lists a frame has none."""
    senses: dict[str, list[bool]] = {}
    for synset in synsets:
        for position, lemma in enumerate(synset.lemmas, start=1):
            own = {f for f, word in synset.frames if word in (0, position)}
            if own:
                senses.setdefault(lemma.lower(), []).append(bool(own & TRANSITIVE_FRAMES))
    classes = {}
    for lemma, transitive in sorted(senses.items()):
        share = sum(transitive) / len(transitive)
        classes[lemma] = (
            "intr" if share == 0 else "trans" if share == 1 else
            "mostly-intr" if share < 0.5 else "mostly-trans"
        )  # fmt: skip
    return classes


def semantic_classes(
    synsets: Iterable[Synset], first_senses: dict[str, str], lexnames: dict[int, str]
) -> dict[str, str]:
    """Each lemma's first sense's lexicographer file name (``verb.stative``)."""
    files = {s.offset: lexnames.get(s.lex_filenum, str(s.lex_filenum)) for s in synsets}
    return {lemma: files[offset] for lemma, offset in first_senses.items() if offset in files}


def read_verb_lexicon(wordnet_dir: Path) -> VerbLexicon:
    """WordNet's verb lexicon (:mod:`gramops.corpus.lexicon`): every lemma of ``data.verb``,
    its valency (its senses' frames) and semantic class (its first sense's lexicographer
    file: ``index.verb``, ``lexnames``), and the irregular verb forms (``verb.exc``)."""
    synsets = read_synsets(require_file(wordnet_dir / "data.verb"))
    verbs = frozenset(lemma.lower() for synset in synsets for lemma in synset.lemmas)
    irregular: dict[str, list[str]] = {}
    for lemma, forms in read_exceptions(require_file(wordnet_dir / "verb.exc")).items():
        for form in forms:
            irregular.setdefault(form, []).append(lemma)
    first_senses = read_first_senses(require_file(wordnet_dir / "index.verb"))
    classes = semantic_classes(synsets, first_senses, read_lexnames(wordnet_dir / "lexnames"))
    return VerbLexicon(
        verbs,
        {f: tuple(sorted(ls)) for f, ls in sorted(irregular.items())},
        valency_classes(synsets),
        {lemma: cls for lemma, cls in sorted(classes.items()) if lemma in verbs},
    )
