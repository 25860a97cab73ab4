"""Behaviour of the models users get, through the serving interface: the FP32 model the
pipeline builds, and production as the registry serves it (loaded by alias, its bytes
verified; `gramops promote` put it there).

Three kinds of check on hand-written sentences the corpus never saw: invariance (a change
that should not matter does not change the answer), directional (a change that should
matter moves the answer the right way) and minimum functionality (textbook cases a
grammar tutor must get right). Thresholds leave room for a single slip, not for a trend.
"""

from pathlib import Path

import pytest

from gramops.inference.predictor import Predictor, load_predictor
from gramops.inference.requests import PredictRequest, PredictResponse, predict
from gramops.monitoring.challenger import load_registered
from gramops.registry.store import Registry

pytestmark = pytest.mark.e2e

PRESENT = {"VBZ", "VBP"}


@pytest.fixture(scope="module", params=["fp32", "production"])
def model(request, pipeline_repo, tmp_path_factory) -> Predictor:
    repo = Path(pipeline_repo["path"])
    if request.param == "fp32":
        return load_predictor(repo / "models/fp32")
    registry = Registry(repo / "models/registry")
    _sha, predictor = load_registered(registry, "production", tmp_path_factory.mktemp("prod"))
    return predictor


def answers(predictor: Predictor, cases: list[tuple[str, str]]) -> list[PredictResponse]:
    return predict([PredictRequest(sentence=s, lemma=lemma) for s, lemma in cases], predictor)


# (sentence, the same sentence with a proper name or an unrelated noun changed, lemma)
INVARIANCE = [
    ("John ___ to work by bus.", "Maria ___ to work by bus.", "go"),
    ("Anna has ___ the report.", "Peter has ___ the report.", "finish"),
    ("Tom is ___ a cake.", "Lucy is ___ a cake.", "bake"),
    ("Mr. Smith ___ his car yesterday.", "Mrs. Jones ___ her car yesterday.", "wash"),
    ("In Paris we ___ many photos.", "In Berlin we ___ many photos.", "take"),
    ("She ___ the piano every evening.", "She ___ the guitar every evening.", "play"),
    ("He wants to ___ a new bike.", "He wants to ___ a new phone.", "buy"),
    ("The dog has ___ the ball.", "The cat has ___ the ball.", "find"),
    ("They were ___ in the garden.", "They were ___ in the kitchen.", "sing"),
    ("My sister ___ tea every morning.", "My sister ___ juice every morning.", "drink"),
    ("I ___ a letter to David last week.", "I ___ a letter to Sarah last week.", "send"),
    ("The teacher is ___ the lesson.", "The teacher is ___ the story.", "explain"),
]


def test_names_and_unrelated_nouns_do_not_change_the_answer(model):
    original = answers(model, [(a, lemma) for a, _, lemma in INVARIANCE])
    changed = answers(model, [(b, lemma) for _, b, lemma in INVARIANCE])
    flipped = [
        (o.sentence, c.sentence) for o, c in zip(original, changed, strict=True) if o.form != c.form
    ]
    assert len(flipped) <= 1, flipped


# sentences without a time cue; adding "yesterday" should make their answer past
DIRECTIONAL = [
    ("She ___ to school.", "go"),
    ("We ___ our grandparents.", "visit"),
    ("She ___ a new dress.", "buy"),
    ("She ___ happy.", "be"),
    ("My mother ___ dinner.", "cook"),
    ("I ___ tired.", "feel"),
    ("It ___ heavily.", "rain"),
    ("He ___ his homework.", "do"),
    ("They ___ in the park.", "play"),
    ("The students ___ for the test.", "study"),
]


@pytest.mark.xfail(
    strict=True,
    reason="known weakness: ~100 of 16,225 training sentences carry a past-time cue, so the "
    "model has not learned that 'yesterday' means past (1 of 7 present answers moves); "
    "strict, so this fails as soon as the model learns it and the marker must go",
)
def test_adding_yesterday_moves_a_present_answer_to_past(model):
    before = answers(model, DIRECTIONAL)
    after = answers(
        model, [(s.removesuffix(".") + " yesterday.", lemma) for s, lemma in DIRECTIONAL]
    )
    present = [(b, a) for b, a in zip(before, after, strict=True) if b.tag in PRESENT]
    # the check only means something on sentences the model answers in the present
    assert len(present) >= 5, [b.sentence for b in before]
    stayed = [a.sentence for _, a in present if a.tag != "VBD"]
    assert len(stayed) < len(present) / 2, f"{len(stayed)}/{len(present)} stayed: {stayed}"


# (sentence, lemma, acceptable forms)
MINIMUM = [
    ("She ___ to school every day.", "go", {"goes"}),
    ("They have ___ the book.", "read", {"read"}),
    ("He is ___ a letter.", "write", {"writing"}),
    ("I want to ___ home.", "go", {"go"}),
    ("Yesterday we ___ to the beach.", "walk", {"walked"}),
    ("She has already ___ her homework.", "finish", {"finished"}),
    ("They are ___ in the park right now.", "play", {"playing"}),
    ("He can ___ very fast.", "run", {"run"}),
    ("My brother ___ coffee every morning.", "drink", {"drinks"}),
    ("Last year they ___ a new house.", "buy", {"bought"}),
    ("We ___ football on Sundays.", "play", {"play"}),
    ("The children were ___ loudly.", "laugh", {"laughing"}),
    ("I have never ___ a ghost.", "see", {"seen"}),
    ("You should ___ more water.", "drink", {"drink"}),
    ("The letter was ___ by my aunt.", "write", {"written"}),
    ("He ___ his keys last night.", "lose", {"lost"}),
]


def test_minimum_functionality_on_textbook_cases(model):
    got = answers(model, [(s, lemma) for s, lemma, _ in MINIMUM])
    wrong = [r.sentence for r, (_, _, ok) in zip(got, MINIMUM, strict=True) if r.form not in ok]
    assert len(wrong) <= 0.2 * len(MINIMUM), wrong
