"""The finder's pure parts added for ``"verify": true`` and one-part names: what a probe's answers make of
the candidate list (``checked``), and how a one-word name is read as a full name (``handle_readings``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadsmith.engine.finder import CONFIRMED_SCORE, Candidate, Check, candidate_addresses, checked
from leadsmith.engine.inference import PatternScore
from leadsmith.engine.names import handle_readings

CANDIDATES = [
    Candidate("jane.roe@acme.test", 0.6, "{first}.{last}@acme.test", None),
    Candidate("jroe@acme.test", 0.2, "{f}{last}@acme.test", None),
    Candidate("jane@acme.test", 0.1, "{first}@acme.test", None),
]


def test_an_accepted_candidate_comes_first_and_rejected_ones_go() -> None:
    checks = {
        "jane.roe@acme.test": Check("invalid"),
        "jroe@acme.test": Check("valid"),
        "jane@acme.test": Check("invalid"),
    }
    out = checked(CANDIDATES, checks)
    assert [(c.email, c.valid, k.status) for c, k in out] == [("jroe@acme.test", True, "valid")]
    assert out[0][0].score == CONFIRMED_SCORE


def test_an_accepted_candidate_leaves_the_inconclusive_ones_what_it_does_not_take() -> None:
    checks = {"jane.roe@acme.test": Check("unknown", "smtp: 451 greylisted"), "jroe@acme.test": Check("valid")}
    out = checked(CANDIDATES, checks)
    assert [c.email for c, _ in out] == ["jroe@acme.test", "jane.roe@acme.test", "jane@acme.test"]
    assert out[1][0].valid is None and out[1][1].reason == "smtp: 451 greylisted"
    assert out[2][1] == Check("unknown", "not probed")
    assert sum(c.score for c, _ in out) == pytest.approx(1.0)


def test_without_a_verdict_the_models_order_stands_and_rejections_lend_their_share() -> None:
    checks = {
        "jane.roe@acme.test": Check("accept_all", "accepts every address"),
        "jroe@acme.test": Check("invalid"),
        "jane@acme.test": Check("accept_all", "accepts every address"),
    }
    out = checked(CANDIDATES, checks)
    assert [c.email for c, _ in out] == ["jane.roe@acme.test", "jane@acme.test"]
    assert all(c.valid is None for c, _ in out)
    assert out[0][0].score == pytest.approx(0.6 / 0.8) and out[1][0].score == pytest.approx(0.1 / 0.8)


@given(st.lists(st.sampled_from(["valid", "invalid", "accept_all", "unknown"]), min_size=3, max_size=3))
def test_checked_scores_stay_probabilities_and_never_offer_a_rejected_address(statuses: list[str]) -> None:
    checks = {c.email: Check(s) for c, s in zip(CANDIDATES, statuses, strict=True)}
    out = checked(CANDIDATES, checks)
    assert all(k.status != "invalid" for _, k in out)
    assert all(0 <= c.score <= 1 for c, _ in out)
    assert sum(c.score for c, _ in out) <= 1 + 1e-9
    accepted = [c for c, k in out if k.status == "valid"]
    if accepted:
        assert out[0][1].status == "valid"


@pytest.mark.parametrize(
    ("text", "first", "middle", "last"),
    [
        ("houming-wang", "houming", "", "wang"),
        ("john_a_joyce", "john", "a", "joyce"),
        ("GirishChilukuri", "girish", "", "chilukuri"),
        ("zhangguoqing", "guoqing", "", "zhang"),  # the family name written first, read as the family name
        ("chenwei", "wei", "", "chen"),
    ],
)
def test_a_one_word_name_is_read_as_the_full_name_it_joins(text: str, first: str, middle: str, last: str) -> None:
    readings = handle_readings(text)
    assert (readings[0].first, readings[0].middle, readings[0].last) == (first, middle, last)


def test_a_word_that_joins_no_names_has_no_reading() -> None:
    assert handle_readings("jolie") == () and handle_readings("dingd") == () and handle_readings("") == ()


@given(st.text(max_size=40))
def test_readings_never_raise_and_their_weights_are_a_probability(text: str) -> None:
    readings = handle_readings(text)
    assert sum(r.weight for r in readings) <= 1 + 1e-9
    assert all(r.first.isalpha() and r.last.isalpha() and r.first.islower() and r.last.islower() for r in readings)


def test_a_one_part_name_gets_the_handle_and_its_readings_candidates() -> None:
    patterns = [PatternScore(("{first}.{last}", 0), 0.8, 10.0), PatternScore(("{f}{last}", 0), 0.2, 3.0)]
    found = candidate_addresses("houming-wang", "", "", "acme.test", patterns, 5, handle_rate=0.3)
    emails = {c.email: c.score for c in found}
    assert emails["houming-wang@acme.test"] == pytest.approx(0.3)
    assert emails["houming.wang@acme.test"] > emails["houming-wang@acme.test"]
    assert sum(emails.values()) <= 1 + 1e-9
