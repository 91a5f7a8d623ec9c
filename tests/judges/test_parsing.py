"""The answer parsers: what a careful reader makes of real and adversarial LLM answers."""
from __future__ import annotations

import pytest

from judges import parsing


@pytest.mark.parametrize(
    "raw, grade",
    [
        ("##final score: 2", 2),
        ("## Final Score : 3", 3),
        ("**##final score:** 1", 1),
        ("M: 2, T: 1\n##final score: 0", 0),
        # UMBRELA's parser takes the first digit after its marker search and reads 3 here.
        ("On a scale from 0 to 3, the passage is related.\n##final score: 1", 1),
        ("##final score: 3\nOn reflection...\n##final score: 1", 1),  # the LAST marker wins
        ('{"score": 2}', 2),
        ('Here is my answer: {"grade": 3, "why": "exact"}', 3),
        ("The passage is on topic.\n2", 2),
        ("Explanation: somewhat related.\nScore: 1", 1),
        ("<think>Maybe ##final score: 3?</think>\n##final score: 0", 0),
        ("<think>\nlong thoughts ##final score: 3\n</think>\nThe answer is:\n1", 1),
    ],
)
def test_graded_answers_are_read_from_the_anchored_score(raw, grade):
    parsed = parsing.parse_graded(raw)
    assert parsed.valid, parsed.error
    assert parsed.value == grade


@pytest.mark.parametrize(
    "raw",
    [
        "",
        None,
        "I cannot help with that. Banana.",
        "##final score: 7",  # out of range: invalid, never clipped to 3
        "##final score: -1",
        '{"score": 5}',
        "<think>I think the score is 2 but I ran out of tok",  # unclosed think: no answer
        "The passage scores between 0 and 3 depending on intent",  # digits, but not a lone final answer
        "##final score: 2.5",
    ],
)
def test_unreadable_graded_answers_are_invalid_not_zero(raw):
    parsed = parsing.parse_graded(raw)
    assert not parsed.valid
    assert parsed.value is None
    assert parsed.error


def test_strip_think_removes_blocks_and_unclosed_prefix():
    assert parsing.strip_think("<think>a</think>b<think>c</think>d") == "bd"
    assert parsing.strip_think("<THINK>\nx\n</THINK>\n\nanswer") == "answer"
    assert parsing.strip_think("<think> never closed") == ""
    assert parsing.strip_think("thinking without the opening tag</think>answer") == "answer"
    assert parsing.strip_think("no think at all") == "no think at all"


@pytest.mark.parametrize(
    "raw, value",
    [
        ("yes", 1), ("No.", 0), ("Relevant", 1), ("not relevant", 0), ("true", 1), ("0", 0),
        ('{"relevant": true}', 1), ('{"answer": "no"}', 0), ("<think>yes? no?</think>\nyes", 1),
        ("Reasoning here.\nNo", 0), ("##final answer: yes", 1), ("##final score: 0", 0),
    ],
)
def test_binary_answers(raw, value):
    parsed = parsing.parse_binary(raw)
    assert parsed.valid, parsed.error
    assert parsed.value == value


@pytest.mark.parametrize("raw", ["maybe", "", "yes and no, it depends on", '{"relevant": "perhaps"}', "##final score: 2"])
def test_binary_unreadable_is_invalid(raw):
    assert not parsing.parse_binary(raw).valid


@pytest.mark.parametrize("raw, value", [("1", 1), ("Passage 2", 2), ("##preferred: 2", 2), ('{"preferred": 1}', 1), ("<think>1</think>2", 2)])
def test_pairwise_answers(raw, value):
    parsed = parsing.parse_pairwise(raw)
    assert parsed.valid and parsed.value == value


@pytest.mark.parametrize("raw", ["3", "both", "", "##preferred: 0"])
def test_pairwise_unreadable_is_invalid(raw):
    assert not parsing.parse_pairwise(raw).valid


@pytest.mark.parametrize(
    "raw, value",
    [
        ("['ambiguity', 'rare entity']", ["ambiguity", "rare entity"]),  # the reference scripts' python lists
        ('["ambiguity", "rare entity", "ambiguity"]', ["ambiguity", "rare entity"]),
        ("<think>hmm</think>\nReasons:\n- ambiguity\n- rare entity", ["ambiguity", "rare entity"]),
        ("1. ambiguity\n2) rare entity", ["ambiguity", "rare entity"]),
        ('```json\n{"reasons": ["x", "y"]}\n```', ["x", "y"]),
        ("Here you go: ['it's', 'x']\n['a', 'b']", ["a", "b"]),
        ("[]", []),
    ],
)
def test_reason_lists(raw, value):
    parsed = parsing.parse_list(raw)
    assert parsed.valid, parsed.error
    assert parsed.value == value


@pytest.mark.parametrize("raw", ["", "no reasons here", "<think>['a']"])
def test_reason_list_unreadable_is_invalid(raw):
    assert not parsing.parse_list(raw).valid


def test_indices_for_the_cascade():
    assert parsing.parse_indices("[2, 5]", count=5).value == [2, 5]
    assert parsing.parse_indices("none", count=5).value == []
    assert parsing.parse_indices("[]", count=3).value == []
    assert not parsing.parse_indices("[7]", count=5).valid
    assert not parsing.parse_indices("I don't know", count=5).valid


@pytest.mark.parametrize(
    "values, vote",
    [([2, 2, 3], 2), ([3, 1, 3], 3), ([1, 2], 1), ([0, 3, 3, 0], 0), ([2], 2), ([], None), ([1, 2, 3], 1)],
)
def test_majority_vote_breaks_ties_towards_the_lower_grade(values, vote):
    assert parsing.majority_vote(values) == vote


def test_generation_drops_think_and_rejects_empty():
    assert parsing.parse_generation("<think>\nplan\n</think>\nGoldfish grow.").value == "Goldfish grow."
    assert not parsing.parse_generation("<think>only thinking</think>").valid


# --- the grade token and its probabilities ------------------------------------------------
def tokens(*pieces: tuple[str, list[tuple[str, float]]]) -> list[dict]:
    """An OpenAI-format logprobs.content: (token, [(alternative, logprob), ...]) per token."""
    return [
        {"token": t, "logprob": alts[0][1] if alts else -0.01,
         "top_logprobs": [{"token": a, "logprob": lp} for a, lp in alts]}
        for t, alts in pieces
    ]


CERTAIN: list[tuple[str, float]] = []
GRADE_TWO = [("2", -0.2), (" 2", -2.0), ("3", -1.5), ("Sure", -1.0), ("1", -3.0)]


@pytest.mark.parametrize(
    "answer",
    [
        # a bare digit, without and with its space
        tokens(("2", GRADE_TWO)),
        tokens(("Score", CERTAIN), (":", CERTAIN), (" 2", GRADE_TWO)),
        # a marker after a decoy "3" in the prose and a decoy "2" in the think block
        tokens(("<think>", CERTAIN), ("Maybe", CERTAIN), (" 2", [(" 2", -0.01)]), ("</think>", CERTAIN),
               ("On", CERTAIN), (" 0", [(" 0", -0.01)]), (" to", CERTAIN), (" 3", [(" 3", -0.01)]),
               ("\n##", CERTAIN), ("final", CERTAIN), (" score", CERTAIN), (":", CERTAIN), (" 2", GRADE_TWO)),
        # a JSON answer: the digit between the key and the closing brace
        tokens(("{\"", CERTAIN), ("score", CERTAIN), ("\":", CERTAIN), (" 2", GRADE_TWO), ("}", CERTAIN)),
    ],
)
def test_the_grade_token_is_the_last_one_spelling_the_grade(answer):
    alternatives = parsing.answer_token_alternatives(answer, value=2, token_grade=parsing.graded_token_grade)
    assert [a["token"] for a in alternatives] == [a for a, _ in GRADE_TWO]


def test_grade_probabilities_are_the_softmax_over_the_grades_among_the_alternatives():
    from scipy.special import logsumexp, softmax

    alternatives = [{"token": t, "logprob": lp} for t, lp in GRADE_TWO]
    got = parsing.grade_probabilities(alternatives, n_grades=4, token_grade=parsing.graded_token_grade)
    # "2" and " 2" are one grade; "Sure" is none; grade 0 is not among them: 0.
    two = logsumexp([-0.2, -2.0])
    expected = softmax([two, -1.5, -3.0])
    assert got == pytest.approx([0.0, expected[2], expected[0], expected[1]], abs=1e-12)


def test_binary_tokens_and_no_grade_among_the_alternatives():
    alternatives = [{"token": " Yes", "logprob": -0.1}, {"token": "no", "logprob": -2.3}, {"token": "Maybe", "logprob": -1}]
    got = parsing.grade_probabilities(alternatives, n_grades=2, token_grade=parsing.binary_token_grade)
    assert got == pytest.approx([1 / (1 + pow(2.718281828459045, 2.2)), 1 / (1 + pow(2.718281828459045, -2.2))])
    none = [{"token": "Maybe", "logprob": -0.1}]
    assert parsing.grade_probabilities(none, n_grades=2, token_grade=parsing.binary_token_grade) is None
    assert parsing.answer_token_alternatives(None, value=1, token_grade=parsing.binary_token_grade) is None
    assert parsing.answer_token_alternatives(tokens(("no", CERTAIN)), value=1, token_grade=parsing.binary_token_grade) is None


def test_vote_shares():
    assert parsing.vote_shares([2, 2, 3], n_grades=4) == pytest.approx([0, 0, 2 / 3, 1 / 3])
    assert parsing.vote_shares([], n_grades=4) is None


@pytest.mark.parametrize("token, grade", [("3", 3), (" 3", 3), ('"2', 2), ("**1**", 1), ("\n0", 0), ("4", None),
                                          ("²", None), ("23", None), ("three", None), ("", None)])
def test_the_grade_a_token_spells(token, grade):
    assert parsing.graded_token_grade(token) == grade
