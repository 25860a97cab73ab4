"""Unit tests of the hashed feature extractor."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from gramops.core.params import FeatureParams
from gramops.models.features import featurize

SPEC = FeatureParams(hash_bits=12, window=3)


def record(tokens: str, verb_index: int, lemma: str) -> dict[str, Any]:
    return {"id": "t:0", "tokens": tokens.split(), "verb_index": verb_index, "lemma": lemma}


RECORDS = [
    record("She choked with laughter yesterday .", 1, "choke"),
    record("He has walked home", 2, "walk"),
    record("Go away !", 0, "go"),
    record("They pull down the old house", 1, "pull_down"),
]


def test_shape_dtype_and_binary_values() -> None:
    X = featurize(RECORDS, SPEC)
    assert X.shape == (len(RECORDS), 2**SPEC.hash_bits)
    assert X.dtype == np.float32
    assert X.has_sorted_indices
    assert np.all(X.data == 1.0)
    assert np.all(np.diff(X.indptr) > 10)


def test_deterministic_across_calls_and_processes() -> None:
    X = featurize(RECORDS, SPEC)
    again = featurize(RECORDS, SPEC)
    assert (again != X).nnz == 0
    # A fresh interpreter has a different str-hash salt: the columns must not move.
    code = (
        "from gramops.models.features import featurize;"
        "from gramops.core.params import FeatureParams;"
        "X = featurize([{'tokens': 'He has walked home'.split(), 'verb_index': 2,"
        " 'lemma': 'walk'}], FeatureParams(hash_bits=12, window=3));"
        "print(','.join(map(str, X.indices)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ",".join(map(str, X[1].indices))


def test_verb_token_is_masked() -> None:
    base = featurize([RECORDS[0]], SPEC)
    for replacement in ("chokes", "choking", "XYZZY"):
        changed = record("She choked with laughter yesterday .", 1, "choke")
        changed["tokens"][1] = replacement
        assert (featurize([changed], SPEC) != base).nnz == 0


def test_context_and_lemma_change_features() -> None:
    base = featurize([RECORDS[0]], SPEC)
    context = featurize([record("She choked with laughter now .", 1, "choke")], SPEC)
    lemma = featurize([record("She choked with laughter yesterday .", 1, "chop")], SPEC)
    assert (context != base).nnz > 0
    assert (lemma != base).nnz > 0


def test_position_matters_not_only_bag() -> None:
    before = featurize([record("will she go", 2, "go")], SPEC)
    after = featurize([record("she will go", 2, "go")], SPEC)
    assert (before != after).nnz > 0


def test_rows_are_independent_of_batch() -> None:
    together = featurize(RECORDS, SPEC)
    for i, r in enumerate(RECORDS):
        assert (featurize([r], SPEC) != together[i]).nnz == 0


def test_empty_input_and_bad_index() -> None:
    assert featurize([], SPEC).shape == (0, 2**SPEC.hash_bits)
    with pytest.raises(ValueError, match="verb_index 5"):
        featurize([record("He ran", 5, "run")], SPEC)


# sha256 of (indptr, indices as int64; data as float32) of RECORDS, computed with the
# implementation the models were trained with: a speed-up must not move a single column
# Models trained without the cues (every model before them) must keep their columns; the
# cue features (train.features.cues, issue 15) were pinned deliberately when they were added,
# (16, 3, True) being the pipeline's setting.
GOLDEN = {
    (12, 3, False): "2d21216c61af8cd41257ed467b11c0abb8c2f5deedaac1bd6b9bf156621cafec",
    (16, 2, False): "06dfa324b37b6691ff8d39efda6a57fb94e5c4c3f83c62b30c22dc67e2c65287",
    (12, 3, True): "0808eb2d23548c3d7f1285ad4710751b6e8485a494e3e567d1197f27da145096",
    (16, 3, True): "23b31a4e11044b57a0d7d4abb59d809579b65198135ca62a8cc822b3b2c767f2",
}


@pytest.mark.parametrize(("bits", "window", "cues"), sorted(GOLDEN))
def test_columns_are_those_the_models_were_trained_on(bits: int, window: int, cues: bool) -> None:
    for _ in range(2):  # the second call reads the token cache the first one filled
        m = featurize(RECORDS, FeatureParams(hash_bits=bits, window=window, cues=cues))
        digest = hashlib.sha256(
            m.indptr.astype("<i8").tobytes()
            + m.indices.astype("<i8").tobytes()
            + m.data.astype("<f4").tobytes()
        ).hexdigest()
        assert digest == GOLDEN[(bits, window, cues)]
        assert m.has_canonical_format and m.indices.dtype == np.int32


# The verb lexicon's features (train.features.lexicon, issue 15), pinned when added at the
# pipeline's setting; the digests above show a model without them keeps its columns.
GOLDEN_LEXICON = "32ef0f50104dfb9b9808626fd9ec09489c0edaab3c5d4c639e9788f8416eccb6"


def test_lexicon_columns_are_those_the_models_were_trained_on() -> None:
    m = featurize(RECORDS, FeatureParams(hash_bits=16, window=3, cues=True, lexicon=True))
    digest = hashlib.sha256(
        m.indptr.astype("<i8").tobytes()
        + m.indices.astype("<i8").tobytes()
        + m.data.astype("<f4").tobytes()
    ).hexdigest()
    assert digest == GOLDEN_LEXICON
