from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadsmith.engine.finder import find_emails
from leadsmith.engine.inference import (
    DEFAULT_PRIOR,
    consistent_with_cuts,
    cut_statistics,
    expected_counts,
    infer_patterns,
    learn_prior,
    scores,
)
from leadsmith.engine.names import family_name_first, handle_token, name_forms, parse_name
from leadsmith.engine.patterns import (
    HANDLE_HIT,
    OTHER,
    TEMPLATES,
    NameParts,
    is_statistic,
    match_name,
    render_parts,
)


def keys(name: str, local: str) -> frozenset[tuple[str, int]]:
    p = parse_name(name)
    return match_name(p.first, p.last, p.middle, local)


@pytest.mark.parametrize(
    ("name", "local", "expected"),
    [
        ("John Smith", "john.smith", ("{first}.{last}", 0)),
        ("John Smith", "jsmith", ("{f}{last}", 0)),
        ("John Smith", "smithj", ("{last}{f}", 0)),
        ("John Smith", "john_s", ("{first}_{l}", 0)),
        ("John Smith", "smith-john", ("{last}-{first}", 0)),
        ("John Smith", "john", ("{first}", 0)),
        ("John Smith", "jsmith2", ("{f}{last}", 0)),
        ("Joe Talerico", "jtaleric", ("{f}{last}", 8)),
        ("Michael J Fork", "mjfork", ("{f}{m}{last}", 0)),
        ("Jean-Luc van der Berg", "jean-luc.vanderberg", ("{first}.{last}", 0)),
        ("Jean-Luc van der Berg", "jl.vanderberg", None),
        ("Jean-Luc van der Berg", "jeanluc.vanderberg", ("{first}.{last}", 0)),
        ("Jean-Luc van der Berg", "jberg", ("{f}{last}", 0)),
        ("Jürgen Müller", "juergen.mueller", ("{first}.{last}", 0)),
        ("Jürgen Müller", "jurgen.muller", ("{first}.{last}", 0)),
        ("Sean O'Brien", "sobrien", ("{f}{last}", 0)),
        ("Robert Smith", "bob.smith", ("{first}.{last}", 0)),
        ("Zhao Lei", "zhaolei", ("{last}{first}", 0)),
        ("YAMADA Hideki", "yamada.hideki", ("{last}.{first}", 0)),
        ("Atsushi SAKAI", "sakaia", ("{last}{f}", 0)),
        ("Nguyen Van Trung", "trungnv", ("{first}{l}{m}", 0)),
        ("Cao Xuan Hoang", "hoang.cx", ("{first}.{l}{m}", 0)),
        ("Tuan Do Anh", "tuanda", ("{first}{l}{m}", 0)),
    ],
)
def test_matching(name: str, local: str, expected: tuple[str, int] | None) -> None:
    found = keys(name, local)
    if expected is None:
        assert found == set()
    else:
        assert expected in found


def test_one_letter_cut_is_an_initial_not_a_cut() -> None:
    found = keys("Dinesh Subhraveti", "dineshs")
    assert ("{first}{l}", 0) in found
    assert not any(cap for _, cap in found)


def test_handles_are_kept_apart() -> None:
    assert keys("wangxiyuan", "wangxiyuan") == {HANDLE_HIT}


def test_family_name_order() -> None:
    assert family_name_first("Zhao", "Lei") is True
    assert family_name_first("Wei", "Wang") is False
    assert family_name_first("YAMADA", "Hideki") is True
    assert family_name_first("Hideki", "YAMADA") is False
    assert family_name_first("Jian", "Wen") is None
    assert family_name_first("John", "Smith") is False
    kinds = [f.kind for f in name_forms("Jian", "Wen")]
    assert kinds == ["canonical", "swapped"]


@pytest.mark.parametrize(
    ("text", "given", "middle", "family"),
    [
        ("Nguyen Van Trung", "trung", "van", "nguyen"),  # family, middle, given ("van" is no particle here)
        ("Cao Xuan Hoang", "hoang", "xuan", "cao"),
        ("Nam Nguyen Hoai", "nam", "hoai", "nguyen"),  # given, family, middle (written the Western way)
        ("Kim Marie Smith", "kim", "marie", "smith"),  # not Vietnamese: as written
        ("John Van Dyke", "john", "", "vandyke"),
    ],
)
def test_vietnamese_three_word_names_are_read_in_their_order(text: str, given: str, middle: str, family: str) -> None:
    p = parse_name(text)
    form = name_forms(p.first, p.last, p.middle)[0]
    assert (form.first, form.middle, form.last) == (given, middle, family)
    assert name_forms(p.first, p.last, p.middle, nicknames=False)[0] == form


def test_a_domain_of_vietnamese_initials_is_learned() -> None:
    known = [("Nguyen Van Trung", "trungnv"), ("Cao Xuan Hoang", "hoangcx"), ("Vu Cong Tuan", "tuanvc")]
    known += [("Ngo Quoc Cuong", "cuongnq"), ("Anh Tran", "anhtt")]
    support = expected_counts([keys(n, a) for n, a in known], middle_pairs=4)
    p = parse_name("Nguyen Hai Truong")
    found = find_emails(p.first, p.last, p.middle, "vn.example", scores(support, DEFAULT_PRIOR, middle=True))
    assert found[0].email == "truongnh@vn.example"


def test_every_template_renders_and_matches_itself() -> None:
    for template in TEMPLATES:
        local = render_parts(template, "ann", "lee", "may")
        assert local is not None
        assert (template, 0) in match_name("Ann", "Lee", "May", local)


@given(st.text(max_size=60), st.text(max_size=60), st.text(max_size=40))
def test_matching_never_raises(first: str, last: str, local: str) -> None:
    found = match_name(first, last, "", local)
    for template, cap in found:
        if template.startswith("{") and "handle" not in template:
            assert cap == 0 or cap >= 5


def test_em_shares_ambiguous_pairs_by_the_domain_evidence() -> None:
    pairs = [keys("Ann Lee", "ann.lee"), keys("Bob Ray", "bob.ray"), keys("Cy Do", "cy.do"), keys("Al", "zz")]
    pairs += [keys("Li Li", "li.li")]
    support = expected_counts(pairs)
    assert support[("{first}.{last}", 0)] > 3.5
    assert support[("{handle}", -1)] == 1


def test_cut_pattern_gets_credit_from_short_names_too() -> None:
    p1, p2 = parse_name("Joe Talerico"), parse_name("Ann Lee")
    raw = [(match_name(p1.first, p1.last, "", "jtaleric"), 8), (match_name(p2.first, p2.last, "", "alee"), 4)]
    expanded = consistent_with_cuts(raw)
    assert ("{f}{last}", 8) in expanded[1]


def test_scores_are_smoothed_by_the_prior_and_sum_below_one() -> None:
    one = infer_patterns([keys("Ann Lee", "alee")])
    top = {s.key: s.score for s in one}
    assert 0.2 < top[("{f}{last}", 0)] < 0.8
    assert top[("{first}.{last}", 0)] > 0.05
    assert sum(top.values()) <= 1.0 + 1e-9
    many = infer_patterns(
        [keys(n, f"{n.split()[0][0]}{n.split()[1]}".lower()) for n in ["Ann Lee", "Bo Ray", "Cy Do"] * 10]
    )
    assert many[0].key == ("{f}{last}", 0)
    assert many[0].score > 0.85


def test_learned_prior_is_a_distribution() -> None:
    prior = learn_prior([{("{first}.{last}", 0): 8.0, OTHER: 2.0}, {("{f}{last}", 0): 5.0, OTHER: 5.0}])
    conventions = sum(v for k, v in prior.items() if not is_statistic(k))
    assert conventions == pytest.approx(1.0)
    assert prior[("{first}.{last}", 0)] > DEFAULT_PRIOR[("{first}.{last}", 0)] * 0.9


def test_finder_ranks_known_first_and_numbers_duplicates() -> None:
    ranked = scores({("{f}{last}", 0): 9.0, OTHER: 1.0}, DEFAULT_PRIOR)
    out = find_emails("John", "Smith", "", "acme.com", ranked, known=[("j.smith@acme.com", True)])
    assert out[0].email == "j.smith@acme.com" and out[0].valid is True and out[0].score == 0.9
    assert out[1].email == "jsmith@acme.com" and out[1].valid is None and out[1].score > 0.6
    assert len(out) <= 5
    taken = find_emails("John", "Smith", "", "acme.com", ranked, taken={"jsmith@acme.com": True})
    assert taken[0].email == "jsmith2@acme.com"
    scores_ = [c.score for c in taken]
    assert scores_ == sorted(scores_, reverse=True)


def test_middle_name_patterns_are_scored_among_people_with_a_middle_name() -> None:
    names = [("Ann Bea Lee", "ann.b.lee"), ("Cy Dee Ray", "cy.d.ray"), ("Bo Kim", "bo.kim"), ("Di Fox", "di.fox")]
    names += [("Ed Gil", "ed.gil"), ("Flo Hart", "flo.hart")]
    support = expected_counts([keys(n, a) for n, a in names], middle_pairs=2)
    with_middle = scores(support, DEFAULT_PRIOR, middle=True)
    without = scores(support, DEFAULT_PRIOR, middle=False)
    overall = {s.key: s.score for s in scores(support, DEFAULT_PRIOR)}
    # Two of the two people with a middle name wrote its initial: for the next one it is the likeliest.
    assert with_middle[0].key == ("{first}.{m}.{last}", 0)
    assert with_middle[0].score > overall[("{first}.{m}.{last}", 0)] * 2
    # Someone without a middle name cannot follow those patterns; the others share their mass.
    assert all("{m" not in s.key[0] for s in without)
    assert without[0].key == ("{first}.{last}", 0)
    assert without[0].score > overall[("{first}.{last}", 0)]
    for ranked in (with_middle, without):
        assert sum(s.score for s in ranked) <= 1.0 + 1e-9
    found = find_emails("Gus", "Ivy", "Jo", "acme.com", with_middle)
    assert found[0].email == "gus.j.ivy@acme.com"


def test_a_cut_pattern_is_scored_for_long_names_by_the_long_names_it_explains() -> None:
    # Short names fit "{f}{last} cut at 8" as well as uncut; only long names tell whether the cut is used.
    rows = [("Ann Lee", "alee"), ("Bo Ray", "bray"), ("Cy Do", "cdo"), ("Joe Talerico", "jtaleric")]
    rows += [("Mia Fairweather", "mifairwe"), ("Tim Swanson", "tiswanso"), ("Sal Montgomery", "samontgo")]
    pairs = []
    for name, local in rows:
        p = parse_name(name)
        pairs.append((match_name(p.first, p.last, "", local), len(local)))
    matches = consistent_with_cuts(pairs)
    support = expected_counts(matches)
    names = [NameParts.of(parse_name(n).first, parse_name(n).last) for n, _ in rows]
    support.update(cut_statistics(list(zip(matches, names, strict=True)), support))
    cut = next(s for s in scores(support, DEFAULT_PRIOR, middle=False) if s.key == ("{f}{last}", 8))
    assert cut.long_score is not None and cut.long_score < cut.score
    short = find_emails("Di", "Fox", "", "acme.com", scores(support, DEFAULT_PRIOR, middle=False))
    long = find_emails("Rob", "Hetherington", "", "acme.com", scores(support, DEFAULT_PRIOR, middle=False))
    assert short[0].email == "dfox@acme.com"
    assert long[0].email == "rhetheri@acme.com"
    assert long[0].score < short[0].score


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("vikram.choudhary", "vikram.choudhary"),
        ("Hanxi_Liu", "hanxi_liu"),
        ("zoukeke@cmss.chinamobile.com", "zoukeke"),
        ("-Jörg-", "jorg"),
        ("jsmith42", "jsmith42"),
    ],
)
def test_a_handle_keeps_the_separators_it_is_written_with(text: str, token: str) -> None:
    assert handle_token(text) == token


def test_a_handle_is_offered_as_written_first_then_what_its_reading_gives() -> None:
    found = find_emails("vikram.choudhary", "", "", "acme.com", scores({}, DEFAULT_PRIOR), handle_rate=0.7)
    # the handle is also what {first}.{last} gives for its reading: it keeps its 0.7 and gains that share
    assert found[0].email == "vikram.choudhary@acme.com" and 0.7 < found[0].score < 1
    # the rest: the patterns' addresses for Vikram Choudhary, sharing what the handle leaves
    assert "vchoudhary@acme.com" in [c.email for c in found[1:]]
    assert sum(c.score for c in found) <= 1 + 1e-9
    assert match_name("vikram.choudhary", "", "", "vikram.choudhary") == frozenset({HANDLE_HIT})


@given(st.text(max_size=40))
def test_handle_token_is_idempotent_and_never_raises(text: str) -> None:
    token = handle_token(text)
    assert handle_token(token) == token
