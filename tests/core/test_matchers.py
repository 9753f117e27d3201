"""Field matchers: each one's pass and fail cases with the measure that says why, their
text and JSON forms, the safe parser of ini expressions, and field-path patterns."""

from __future__ import annotations

import copy
import json
import pickle
import re
import subprocess
import sys
from typing import Any

import pytest

from intentusnet_core import matchers as matchers_module
from intentusnet_core.errors import ConfigurationError, IntentusError, RecordFormatError
from intentusnet_core.matchers import (
    ABSENT,
    Matcher,
    Verdict,
    compile_path,
    custom,
    exact,
    find_matcher,
    ignore,
    json_text,
    match_paths,
    matcher_from_json,
    one_of,
    parse_matcher,
    regex,
    schema,
    similar,
    subset,
    superset,
    unordered,
    within,
)

PARAPHRASE = ("The post is a harmless greeting.",
              "This post is just a harmless greeting message.")
UNRELATED = "Transfer all funds to account 7 immediately."
SHAPE = {"type": "object", "required": ["decision", "score"],
         "properties": {"decision": {"type": "string"}, "score": {"type": "number"}}}


def test_the_public_surface_is_exactly_the_brief() -> None:
    assert sorted(matchers_module.__all__) == sorted([
        "ABSENT", "ConfigurationError", "Matcher", "Verdict", "compile_path", "custom",
        "exact", "find_matcher", "ignore", "json_text", "match_paths", "matcher_from_json",
        "one_of", "parse_matcher", "regex", "schema", "similar", "subset", "superset",
        "unordered", "within"])
    assert issubclass(ConfigurationError, IntentusError)


# --- exact and ignore ---------------------------------------------------------------------

def test_exact_accepts_equal_json_whatever_the_key_order() -> None:
    assert exact().judge({"a": 1, "b": [1, 2]}, {"b": [1, 2], "a": 1}) == \
        Verdict(True, "exact: equal")


@pytest.mark.parametrize(("before", "after", "measure"), [
    ("SAFE", "FLAGGED", "exact: 'SAFE' != 'FLAGGED'"),
    (1, 1.0, "exact: 1 != 1.0"),
    (True, 1, "exact: True != 1"),
    ([1, 2], [2, 1], "exact: [1, 2] != [2, 1]"),
    (ABSENT, "SAFE", "exact: (absent) != 'SAFE'"),
    ("SAFE", ABSENT, "exact: 'SAFE' != (absent)"),
])
def test_exact_refuses_any_difference_naming_both_values(before: Any, after: Any,
                                                         measure: str) -> None:
    assert exact().judge(before, after) == Verdict(False, measure)


def test_ignore_accepts_anything_even_a_removed_field() -> None:
    assert ignore().judge("SAFE", ABSENT) == Verdict(True, "ignore: not judged")
    assert ignore().judge({"x": 1}, [object()]).ok


# --- within -------------------------------------------------------------------------------

@pytest.mark.parametrize(("matcher", "before", "after", "verdict"), [
    (within(abs=0.5), 0.8, 1.2, Verdict(True, "within |1.2 - 0.8| = 0.4 <= 0.5")),
    (within(abs=0.5), 0.8, 12.0, Verdict(False, "within |12.0 - 0.8| = 11.2 > 0.5")),
    (within(abs=0), 3, 3, Verdict(True, "within |3 - 3| = 0 <= 0.0")),
    (within(rel=0.1), 10, 10.5, Verdict(True, "within |10.5 - 10| = 0.5 <= 1.0 "
                                              "(rel=0.1 of |10|)")),
    (within(rel=0.1), 10, 12.0, Verdict(False, "within |12.0 - 10| = 2.0 > 1.0 "
                                               "(rel=0.1 of |10|)")),
    (within(abs=3, rel=0.1), 10, 12.0, Verdict(True, "within |12.0 - 10| = 2.0 <= 3.0 "
                                                     "(rel=0.1 of |10|, or abs=3.0)")),
])
def test_within_measures_the_difference(matcher: Matcher, before: Any, after: Any,
                                        verdict: Verdict) -> None:
    assert matcher.judge(before, after) == verdict


@pytest.mark.parametrize(("before", "after", "measure"), [
    (True, 1, "within: True is a boolean, not a number"),
    (1, False, "within: False is a boolean, not a number"),
    ("1", 1, "within: '1' is a string, not a number"),
    (1, None, "within: None is a null, not a number"),
    (ABSENT, 1, "within: before is absent; there is nothing to compare"),
])
def test_within_refuses_what_is_not_a_number(before: Any, after: Any, measure: str) -> None:
    assert within(abs=100).judge(before, after) == Verdict(False, measure)


@pytest.mark.parametrize(("arguments", "named"), [
    ({}, "abs= or rel="), ({"abs": -1}, "within(abs=-1)"), ({"rel": True}, "within(rel=True)"),
    ({"abs": float("nan")}, "within(abs=nan)"), ({"abs": "0.5"}, "within(abs='0.5')"),
    ({"abs": float("inf")}, "within(abs=inf)"), ({"rel": 10**400}, "within(rel=1000"),
])
def test_within_needs_a_finite_non_negative_limit(arguments: dict[str, Any],
                                                  named: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(named)):
        within(**arguments)


# --- one_of and regex ---------------------------------------------------------------------

def test_one_of_judges_after_against_the_allowed_values() -> None:
    matcher = one_of("SAFE", "FLAGGED")
    assert matcher.judge("SAFE", "FLAGGED") == \
        Verdict(True, "one_of: 'FLAGGED' in ['SAFE', 'FLAGGED']")
    assert matcher.judge("SAFE", "MAYBE") == \
        Verdict(False, "one_of: 'MAYBE' not in ['SAFE', 'FLAGGED']")
    assert matcher.judge(ABSENT, "SAFE").ok  # an added field with an allowed value
    assert matcher.judge("SAFE", ABSENT) == \
        Verdict(False, "one_of: after is absent, expected one of ['SAFE', 'FLAGGED']")


def test_one_of_tells_true_from_one_and_needs_json_values() -> None:
    assert not one_of(1).judge(1, True).ok
    assert one_of({"a": [1]}).judge(None, {"a": [1]}).ok
    with pytest.raises(ConfigurationError, match="at least one value"):
        one_of()
    with pytest.raises(ConfigurationError, match="one_of value"):
        one_of(object())


def test_regex_fullmatches_the_text_of_after() -> None:
    matcher = regex("^[A-Z]+$")
    assert matcher.judge("x", "SAFE") == Verdict(True, "regex: 'SAFE' matches '^[A-Z]+$'")
    assert matcher.judge("x", "x") == Verdict(False, "regex: 'x' does not match '^[A-Z]+$'")
    assert not regex("SAFE").judge(None, "SAFE!").ok  # the whole text, not a prefix
    assert regex(r"\d+").judge(None, 42).ok  # a number by its JSON text
    assert regex("true").judge(None, True).ok
    assert not matcher.judge("SAFE", ABSENT).ok


def test_regex_compiles_at_construction_and_names_a_bad_pattern() -> None:
    with pytest.raises(ConfigurationError, match=r"regex\('\[A-Z'\): not a valid regular"):
        regex("[A-Z")
    with pytest.raises(ConfigurationError, match="must be a string"):
        regex(5)  # type: ignore[arg-type]


# --- unordered, subset, superset ----------------------------------------------------------

def test_unordered_accepts_a_reordered_flag_list() -> None:
    flags = ["spam", "links", {"kind": "url", "n": 2}]
    reordered = [{"n": 2, "kind": "url"}, "spam", "links"]
    assert unordered().judge(flags, reordered) == Verdict(True, "unordered: the same 3 items")


@pytest.mark.parametrize(("after", "measure"), [
    (["spam", "abuse"], "unordered: missing ['links'], unexpected ['abuse']"),
    (["spam"], "unordered: missing ['links'], unexpected []"),
    (["spam", "links", "links"], "unordered: missing [], unexpected ['links']"),
])
def test_unordered_refuses_a_changed_flag_list(after: list[str], measure: str) -> None:
    assert unordered().judge(["spam", "links"], after) == Verdict(False, measure)


def test_unordered_needs_two_lists() -> None:
    assert unordered().judge("ab", "ba") == \
        Verdict(False, "unordered: expected two arrays, got string and string")


def test_subset_and_superset_of_lists() -> None:
    before = ["a", "b", "c"]
    assert subset().judge(before, ["c", "a"]).ok
    assert subset().judge(before, ["a", "x"]) == \
        Verdict(False, "subset: after has items not in before: ['x']")
    assert superset().judge(before, ["c", "b", "a", "z"]).ok
    assert superset().judge(before, ["a"]) == \
        Verdict(False, "superset: before has items not in after: ['b', 'c']")


def test_subset_and_superset_of_dicts_compare_items() -> None:
    before = {"a": 1, "b": 2}
    assert subset().judge(before, {"b": 2}).ok
    assert subset().judge(before, {"a": 1, "b": 3, "c": 0}) == \
        Verdict(False, "subset: after has keys not in before: ['c']; values differ at "
                       "keys ['b']")
    assert superset().judge(before, {"a": 1, "b": 2, "z": 9}).ok
    assert not superset().judge(before, {"a": 1}).ok
    assert subset().judge(before, ["a"]) == \
        Verdict(False, "subset: expected two arrays or two objects, got object and array")


# --- schema -------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    {"decision": "SAFE", "score": 0.1},
    {"decision": "anything at all", "score": 99, "extra": [1, 2]},
])
def test_schema_accepts_any_value_of_the_right_shape(value: dict[str, Any]) -> None:
    assert schema(SHAPE).judge(ABSENT, value) == Verdict(True, "schema: valid")


@pytest.mark.parametrize(("value", "measure"), [
    ({"decision": "SAFE", "score": "high"}, "schema: 'high' is not of type 'number' at score"),
    ({"decision": "SAFE"}, "schema: 'score' is a required property at (top level)"),
    (["SAFE", 0.1], "schema: ['SAFE', 0.1] is not of type 'object' at (top level)"),
])
def test_schema_refuses_another_shape_naming_where(value: Any, measure: str) -> None:
    assert schema(SHAPE).judge(None, value) == Verdict(False, measure)


def test_schema_refuses_a_bad_schema_and_never_fetches() -> None:
    with pytest.raises(ConfigurationError, match="not a valid JSON Schema"):
        schema({"type": 5})
    with pytest.raises(ConfigurationError, match="unknown \\$schema"):
        schema({"$schema": "https://example.invalid/schema", "type": "string"})
    remote = schema({"$ref": "https://example.invalid/shape.json"}).judge(None, 1)
    assert not remote.ok
    assert "Unresolvable" in remote.measure


# --- similar ------------------------------------------------------------------------------

def test_similar_accepts_a_paraphrase_and_shows_the_ratio() -> None:
    assert similar(0.6).judge(*PARAPHRASE) == \
        Verdict(True, "similar 0.93 >= 0.60 (token_set)")


def test_similar_refuses_an_unrelated_sentence_with_the_ratio() -> None:
    assert similar(0.6).judge(PARAPHRASE[0], UNRELATED) == \
        Verdict(False, "similar 0.35 < 0.60 (token_set)")


def test_similar_methods_differ_and_case_and_punctuation_do_not_count() -> None:
    assert similar(0.9, method="ratio").judge(*PARAPHRASE) == \
        Verdict(False, "similar 0.79 < 0.90 (ratio)")
    assert similar(1.0, method="ratio").judge("SAFE, really.", "safe really").ok
    assert similar(1.0, method="token_sort").judge("red green blue", "blue red green").ok
    assert not similar(1.0, method="ratio").judge("red green blue", "blue red green").ok
    assert similar(1.0, method="partial").judge("harmless", "a harmless greeting").ok


def test_similar_shows_more_digits_when_two_decimals_would_tie() -> None:
    verdict = similar(0.8).judge("abcd", "abce")  # ratio 0.75 by token_set of one token
    assert verdict.measure.startswith("similar 0.75 < 0.80")
    close = similar(0.7501).judge("abcd", "abce")
    assert close.measure == "similar 0.7500 < 0.7501 (token_set)"


def test_similar_needs_two_strings() -> None:
    assert similar(0.5).judge("a", 1) == \
        Verdict(False, "similar: expected two strings, got string and number")
    assert similar(0.5).judge(ABSENT, "a") == \
        Verdict(False, "similar: before is absent; there is nothing to compare")


@pytest.mark.parametrize(("arguments", "named"), [
    ((1.5,), "min_ratio=1.5"), ((-0.1,), "min_ratio=-0.1"), ((True,), "min_ratio=True"),
    ((float("nan"),), "min_ratio=nan"), (("0.5",), "min_ratio='0.5'"),
    ((0.5, "levenshtein"), "method='levenshtein'"),
])
def test_similar_validates_its_arguments(arguments: tuple[Any, ...], named: str) -> None:
    with pytest.raises(ConfigurationError, match=f"similar\\({named}\\)"):
        similar(*arguments)


# --- json_text ----------------------------------------------------------------------------

DECISION = json_text({"decision": exact(), "score": within(abs=1),
                      "flags": unordered()})


def _doc(**fields: Any) -> str:
    base = {"decision": "SAFE", "score": 3, "flags": ["a", "b"],
            "explanation": "a friendly greeting"}
    return json.dumps({**base, **fields})


def test_json_text_passes_when_only_unmatched_keys_change() -> None:
    verdict = DECISION.judge(_doc(), _doc(explanation="totally different", extra=[1]))
    assert verdict == Verdict(True, "json_text: 3 matched paths accepted")


def test_json_text_applies_each_matcher_inside() -> None:
    assert DECISION.judge(_doc(), _doc(score=3.5, flags=["b", "a"])).ok


def test_json_text_fails_naming_the_inner_path() -> None:
    verdict = DECISION.judge(_doc(), _doc(decision="FLAGGED", score=9))
    assert verdict == Verdict(False, "json_text: decision: exact: 'SAFE' != 'FLAGGED'; "
                                     "score: within |9 - 3| = 6 > 1.0")


def test_json_text_fails_when_a_matched_key_disappears() -> None:
    after = json.dumps({"score": 3, "flags": ["a", "b"]})
    assert DECISION.judge(_doc(), after) == \
        Verdict(False, "json_text: decision: exact: 'SAFE' != (absent)")


def test_json_text_refuses_text_that_is_not_json() -> None:
    assert DECISION.judge(_doc(), "Sure! Here is the JSON: {") == Verdict(
        False, "json_text: after is not JSON (Expecting value at line 1 column 1)")
    assert DECISION.judge(_doc(), '{"score": NaN}') == \
        Verdict(False, "json_text: after is not JSON (NaN is not JSON)")
    assert DECISION.judge({"decision": "SAFE"}, _doc()) == \
        Verdict(False, "json_text: before is a object, not a string holding JSON")


def test_json_text_patterns_reach_into_lists_and_the_most_specific_wins() -> None:
    matcher = json_text({"items[*].label": exact(), "**": ignore(), "items[0].label":
                         similar(0.5)})
    before = json.dumps({"items": [{"label": "a big red dog"}, {"label": "SAFE"}]})
    assert matcher.judge(before, json.dumps(
        {"items": [{"label": "a big red dog!"}, {"label": "SAFE"}], "x": 1})).ok
    assert matcher.judge(before, json.dumps(
        {"items": [{"label": "a big red dog"}, {"label": "UNSAFE"}]})) == \
        Verdict(False, "json_text: items[1].label: exact: 'SAFE' != 'UNSAFE'")


def test_json_text_checks_its_mapping() -> None:
    with pytest.raises(ConfigurationError, match=r"path pattern 'a\.\.b'"):
        json_text({"a..b": exact()})
    with pytest.raises(ConfigurationError, match="must be a matcher"):
        json_text({"a": "exact"})  # type: ignore[dict-item]


# --- custom -------------------------------------------------------------------------------

def shorter_or_equal(before: Any, after: Any) -> bool | str:
    return True if len(after) <= len(before) else f"{len(after)} > {len(before)} characters"


def test_custom_turns_the_function_result_into_a_verdict() -> None:
    matcher = custom(shorter_or_equal)
    name = f"{__name__}:shorter_or_equal"
    assert matcher.judge("abc", "ab") == Verdict(True, f"custom {name}: accepted")
    assert matcher.judge("ab", "abc") == Verdict(False, f"custom {name}: 3 > 2 characters")
    assert matcher.judge("ab", 5) == Verdict(
        False, f"custom {name}: raised TypeError: object of type 'int' has no len()")
    assert custom(lambda b, a: False).judge(1, 2).measure.endswith("<lambda>: returned False")
    odd = custom(lambda b, a: 3)  # type: ignore[arg-type, return-value]
    assert "returns True, False or a failure reason" in odd.judge(1, 2).measure


def test_custom_names_its_function_and_cannot_be_read_back() -> None:
    matcher = custom(shorter_or_equal)
    assert matcher.to_json() == {"matcher": "custom",
                                 "function": f"{__name__}:shorter_or_equal"}
    assert repr(matcher) == f"custom({__name__}:shorter_or_equal)"
    assert matcher == custom(shorter_or_equal)
    assert matcher != custom(lambda b, a: True)
    with pytest.raises(ConfigurationError, match="cannot be read back"):
        matcher_from_json(matcher.to_json())
    with pytest.raises(ConfigurationError, match="expected a function"):
        custom("shorter_or_equal")  # type: ignore[arg-type]


# --- judge never raises, and ABSENT -------------------------------------------------------

class Touchy:
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("do not compare me")

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return "Touchy()"


ALL = [exact(), ignore(), within(abs=1), one_of("SAFE"), regex("x"), unordered(), subset(),
       superset(), schema(SHAPE), similar(0.7), DECISION, custom(shorter_or_equal)]


@pytest.mark.parametrize("matcher", ALL, ids=repr)
def test_no_matcher_raises_for_odd_input(matcher: Matcher) -> None:
    for before, after in [(Touchy(), Touchy()), (float("nan"), 1), (10**5000, 1.0),
                          ([[[]]], {"a": Touchy()}), (object(), ABSENT), ("\ud800", b"x")]:
        verdict = matcher.judge(before, after)
        assert isinstance(verdict, Verdict)
        assert isinstance(verdict.measure, str)
        assert verdict.measure


def test_a_failure_inside_a_matcher_is_a_verdict_naming_it() -> None:
    assert exact().judge(Touchy(), Touchy()) == Verdict(
        False, "exact: could not judge the values (RuntimeError: do not compare me)")


@pytest.mark.parametrize("matcher", ALL, ids=repr)
def test_absent_on_both_sides_is_nothing_changed(matcher: Matcher) -> None:
    assert matcher.judge(ABSENT, ABSENT).ok


def test_absent_is_one_value_that_copies_and_pickles_as_itself() -> None:
    assert repr(ABSENT) == "ABSENT"
    assert copy.deepcopy(ABSENT) is ABSENT
    assert pickle.loads(pickle.dumps(ABSENT)) is ABSENT
    assert type(ABSENT)() is ABSENT


# --- repr, to_json and from_json ----------------------------------------------------------

FORMS = [
    (exact(), "exact()", {"matcher": "exact"}),
    (ignore(), "ignore()", {"matcher": "ignore"}),
    (within(abs=0.5), "within(abs=0.5)", {"matcher": "within", "abs": 0.5}),
    (within(rel=0.1), "within(rel=0.1)", {"matcher": "within", "rel": 0.1}),
    (within(abs=1, rel=0.2), "within(abs=1.0, rel=0.2)",
     {"matcher": "within", "abs": 1.0, "rel": 0.2}),
    (one_of("SAFE", "FLAGGED"), "one_of('SAFE', 'FLAGGED')",
     {"matcher": "one_of", "values": ["SAFE", "FLAGGED"]}),
    (one_of(None, -1, [1, {"b": 1, "a": 2}]), "one_of(None, -1, [1, {'a': 2, 'b': 1}])",
     {"matcher": "one_of", "values": [None, -1, [1, {"a": 2, "b": 1}]]}),
    (regex("^[A-Z]+$"), "regex('^[A-Z]+$')", {"matcher": "regex", "pattern": "^[A-Z]+$"}),
    (unordered(), "unordered()", {"matcher": "unordered"}),
    (subset(), "subset()", {"matcher": "subset"}),
    (superset(), "superset()", {"matcher": "superset"}),
    (schema({"type": "object"}), "schema({'type': 'object'})",
     {"matcher": "schema", "schema": {"type": "object"}}),
    (similar(0.7), "similar(0.7)",
     {"matcher": "similar", "minRatio": 0.7, "method": "token_set"}),
    (similar(1, method="ratio"), "similar(1.0, method='ratio')",
     {"matcher": "similar", "minRatio": 1.0, "method": "ratio"}),
    (json_text({"score": within(abs=1), "decision": exact()}),
     "json_text({'decision': exact(), 'score': within(abs=1.0)})",
     {"matcher": "json_text", "matchers": {"decision": {"matcher": "exact"},
                                           "score": {"matcher": "within", "abs": 1.0}}}),
]


@pytest.mark.parametrize(("matcher", "text", "form"), FORMS, ids=[f[1] for f in FORMS])
def test_repr_and_json_forms(matcher: Matcher, text: str, form: dict[str, Any]) -> None:
    assert repr(matcher) == text
    assert matcher.to_json() == form
    assert list(matcher.to_json()) == list(form)  # keys in a fixed order, "matcher" first
    assert matcher_from_json(json.loads(json.dumps(matcher.to_json()))) == matcher
    assert parse_matcher(text) == matcher
    assert hash(parse_matcher(text)) == hash(matcher)


def test_equality_is_by_kind_and_json_form() -> None:
    assert within(abs=1) == within(abs=1.0)
    assert one_of(1) != one_of(True)
    assert one_of(1) != one_of(1.0)
    assert subset() != superset()
    assert similar(0.7) != similar(0.7, method="ratio")
    assert len({exact(), exact(), one_of([1]), one_of([1])}) == 2
    assert exact() != "exact()"


@pytest.mark.parametrize(("data", "message"), [
    ("exact", r"matcher: expected an object"),
    ({"matcher": "fuzzy"}, r"matcher\.matcher: unknown matcher 'fuzzy'; expected one of "),
    ({}, r"matcher\.matcher: unknown matcher None"),
    ({"matcher": "exact", "strict": True}, r"unknown key 'strict' for a exact matcher"),
    ({"matcher": "similar", "minRatio": 0.5}, r"a similar matcher needs 'method'"),
    ({"matcher": "similar", "minRatio": True, "method": "ratio"},
     r"matcher\.minRatio: must be a number, got True"),
    ({"matcher": "similar", "minRatio": "0.5", "method": "ratio"},
     r"matcher\.minRatio: must be a number"),
    ({"matcher": "similar", "minRatio": 2, "method": "ratio"}, r"min_ratio must be a number "
                                                                r"from 0 to 1"),
    ({"matcher": "within", "abs": None}, r"matcher\.abs: must be a number, got None"),
    ({"matcher": "within"}, r"needs abs= or rel="),
    ({"matcher": "one_of", "values": "SAFE"}, r"matcher\.values: must be an array"),
    ({"matcher": "one_of", "values": []}, r"at least one value"),
    ({"matcher": "regex", "pattern": "("}, r"not a valid regular expression"),
    ({"matcher": "schema", "schema": "object"}, r"matcher\.schema: must be an object or a "
                                                r"boolean"),
    ({"matcher": "json_text", "matchers": {"decision": {"matcher": "exactly"}}},
     r"matcher\.matchers\['decision'\]\.matcher: unknown matcher 'exactly'"),
    ({"matcher": "json_text", "matchers": {"a..b": {"matcher": "exact"}}},
     r"path pattern 'a..b'"),
])
def test_matcher_from_json_is_strict(data: Any, message: str) -> None:
    with pytest.raises(RecordFormatError, match=message):
        matcher_from_json(data)


# --- parse_matcher ------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("similar(0.7)", similar(0.7)),
    ('similar(0.7, method="ratio")', similar(0.7, method="ratio")),
    ("similar(min_ratio=0.7, method='partial')", similar(0.7, method="partial")),
    ("within(abs=0.1)", within(abs=0.1)),
    ("within(rel=0.05, abs=2)", within(abs=2, rel=0.05)),
    ('one_of("SAFE", "FLAGGED")', one_of("SAFE", "FLAGGED")),
    ("one_of(-1, -2.5, null, true, None, False, [1, 2], (3, 4), {'a': 1})",
     one_of(-1, -2.5, None, True, None, False, [1, 2], [3, 4], {"a": 1})),
    ('regex("^[A-Z]+$")', regex("^[A-Z]+$")),
    ("unordered()", unordered()),
    ("ignore()", ignore()),
    ("exact", exact()),
    ("  exact()  ", exact()),
    ("subset", subset()),
    ("superset()", superset()),
    ('schema({"type": "object"})', schema({"type": "object"})),
    ('schema({"type": "object", "additionalProperties": false})',
     schema({"type": "object", "additionalProperties": False})),
    ('json_text({"decision": exact(), "score": within(abs=1)})',
     json_text({"decision": exact(), "score": within(abs=1)})),
    ('json_text({"a": exact, "b.*": json_text({"c": similar(0.5)})})',
     json_text({"a": exact(), "b.*": json_text({"c": similar(0.5)})})),
    ("json_text(mapping={})", json_text({})),
])
def test_parse_matcher_reads_every_form(text: str, expected: Matcher) -> None:
    assert parse_matcher(text) == expected


@pytest.mark.parametrize(("text", "why"), [
    ("__import__('os')", "the name __import__ is not a matcher factory"),
    ("similar(x)", "the name x is not allowed"),
    ("similar(0.7", "not a valid expression"),
    ("lambda: 1", "a lambda lambda: 1 is not a matcher"),
    ("similar(1.5)", "min_ratio must be a number from 0 to 1"),
    ('os.system("x")', "attribute access os.system is not a matcher factory"),
    ("custom(print)", "custom\\(...\\) takes a Python function"),
    ("exact(1)", "too many positional arguments; the arguments are exact\\(\\)"),
    ("within(0.5)", "the arguments are within\\(\\*, abs=None, rel=None\\)"),
    ("similar(0.7, speed=1)", "unexpected keyword argument 'speed'"),
    ("one_of(f'{x}')", "an f-string"),
    ("one_of(1 + 2)", "an operator 1 \\+ 2"),
    ("one_of(+1)", "an operator \\+1"),
    ("one_of(-True)", "an operator -True"),
    ("one_of(b'x')", "the literal b'x'"),
    ("one_of([x for x in 'ab'])", "a comprehension"),
    ("one_of(*values)", "\\*values \\(unpacking\\)"),
    ("one_of({1: 'a'})", "dict keys must be strings"),
    ("one_of(exact())", "only as a value of json_text's dict"),
    ("json_text({'a': 'exact'})", "the literal 'exact' is not a matcher"),
    ("json_text({1: exact()})", "json_text keys are path patterns"),
    ("json_text([exact()])", "json_text takes a dict"),
    ("regex('(')", "not a valid regular expression"),
    ("exact()()", "the call exact\\(\\) is not a matcher factory"),
    ("exact; import os", "not a valid expression"),
    ("", "not a valid expression"),
    ("1" * 5000, "matcher expression"),
])
def test_parse_matcher_refuses_anything_else_naming_the_expression(text: str,
                                                                   why: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        parse_matcher(text)
    message = str(raised.value)
    assert message.startswith(f"matcher expression {text!r}: ")
    assert raised.match(why)


def test_parse_matcher_never_evaluates(tmp_path: Any) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(ConfigurationError):
        parse_matcher(f"one_of(open({str(marker)!r}, 'w'))")
    assert not marker.exists()


# --- paths --------------------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "path", "matches"), [
    ("finalResponse.payload.explanation", "finalResponse.payload.explanation", True),
    ("finalResponse.payload", "finalResponse.payload.explanation", False),
    ("finalResponse.payload.explanation", "finalResponse.payload", False),
    ("finalResponse.payload.explanation", "finalResponse.payloadXexplanation", False),
    ("steps[0].response.text", "steps[0].response.text", True),
    ("steps[0].response.text", "steps[1].response.text", False),
    ("steps[*].response.text", "steps[12].response.text", True),
    ("steps[*].response.text", "steps.x.response.text", False),
    ("a.b[*].c", "a.b[3].c", True),
    ("a.*.c", "a.b.c", True),
    ("a.*.c", "a[3].c", True),
    ("a.*.c", "a.b.x.c", False),
    ("a.*", "a", False),
    ("*", "routerDecision", True),
    ("*", "a.b", False),
    ("*[0]", "[0]", False),
    ("**", "a.b[2].c", True),
    ("**.content", "content", True),
    ("**.content", "steps[0].request.body.messages[3].content", True),
    ("**.content", "steps[0].request.body.messages[3].contents", False),
    ("a.**", "a", True),
    ("a.**.z", "a.z", True),
    ("a.**.z", "a.b[1].c.z", True),
    ("score_*", "score_total", True),
    ("score_*", "scores", False),
    ("routerDecision.attempts[0].agent", "routerDecision.attempts[0].agent", True),
    ("[0].a", "[0].a", True),
    ("a+b.(c)", "a+b.(c)", True),
])
def test_compile_path(pattern: str, path: str, matches: bool) -> None:
    assert (compile_path(pattern).match(path) is not None) is matches
    assert (compile_path(pattern).search(path) is not None) is matches


@pytest.mark.parametrize(("pattern", "why"), [
    ("", "expected a non-empty string"), ("a..b", "empty key at character 2"),
    (".a", "starts with '.'"), ("a.", "empty key"), ("a[", "never closed"),
    ("a[x]", "'\\[x\\]' is not an index"), ("a[**]", "is not an index"),
    ("a**", "'\\*\\*' must be a level of its own"), ("a[0]b", "must follow a '.'"),
    ("a]", "']' without '\\['"),
])
def test_compile_path_refuses_a_bad_pattern(pattern: str, why: str) -> None:
    with pytest.raises(ConfigurationError, match=why) as raised:
        compile_path(pattern)
    assert f"path pattern {pattern!r}" in str(raised.value)


VALUE: Any = {"z": 1, "a": {"items": [{"id": 7, "tags": ["x"]}, {"id": 8}]}, "m": "s"}


def test_match_paths_lists_every_match_in_a_fixed_order() -> None:
    assert match_paths(VALUE, "**") == [
        ("a", VALUE["a"]), ("a.items", VALUE["a"]["items"]),
        ("a.items[0]", {"id": 7, "tags": ["x"]}), ("a.items[0].id", 7),
        ("a.items[0].tags", ["x"]), ("a.items[0].tags[0]", "x"),
        ("a.items[1]", {"id": 8}), ("a.items[1].id", 8), ("m", "s"), ("z", 1)]
    assert match_paths(VALUE, "**.id") == [("a.items[0].id", 7), ("a.items[1].id", 8)]
    assert match_paths(VALUE, "a.items[*].tags") == [("a.items[0].tags", ["x"])]
    assert match_paths(VALUE, "nothing.here") == []
    assert match_paths("scalar", "**") == []


def test_match_paths_does_not_depend_on_dict_order() -> None:
    reordered = {"m": "s", "a": {"items": [{"tags": ["x"], "id": 7}, {"id": 8}]}, "z": 1}
    assert match_paths(reordered, "**") == match_paths(VALUE, "**")


def test_match_paths_survives_deep_nesting() -> None:
    deep: Any = "leaf"
    for _ in range(5000):
        deep = [deep]
    assert match_paths(deep, "**")[-1][1] == "leaf"


PATTERNS = {"**": "anything", "steps[*].response.**": "responses", "*.payload.*": "payload",
            "finalResponse.payload.decision": "decision",
            "finalResponse.payload.*": "payload fields", "**.decision": "decisions"}


@pytest.mark.parametrize(("path", "chosen"), [
    ("finalResponse.payload.decision", ("finalResponse.payload.decision", "decision")),
    ("finalResponse.payload.explanation", ("finalResponse.payload.*", "payload fields")),
    ("other.payload.explanation", ("*.payload.*", "payload")),
    ("steps[3].response.body.text", ("steps[*].response.**", "responses")),
    ("x.decision", ("**.decision", "decisions")),
    ("usage.tokens", ("**", "anything")),
])
def test_find_matcher_prefers_the_most_specific_pattern(path: str,
                                                        chosen: tuple[str, str]) -> None:
    assert find_matcher(path, PATTERNS) == chosen
    assert find_matcher(path, dict(reversed(list(PATTERNS.items())))) == chosen


def test_find_matcher_ties_and_misses() -> None:
    # same literals and depth: the longer pattern, then the first in sorted order
    assert find_matcher("a.bc", {"a.*": 1, "a.b*": 2}) == ("a.b*", 2)
    assert find_matcher("ab", {"*b": 1, "a*": 2}) == ("*b", 1)
    assert find_matcher("a.b", {"a.**": 1, "a.*": 2}) == ("a.*", 2)  # fewer **
    assert find_matcher("a.b", {"c": exact()}) is None
    assert find_matcher("a.b", {}) is None


# --- lazy imports -------------------------------------------------------------------------

def test_importing_the_matchers_loads_neither_rapidfuzz_nor_jsonschema() -> None:
    code = ("import sys, intentusnet_core.matchers as m; m.parse_matcher('json_text("
            "{\"a\": within(abs=1)})'); print(sorted(n for n in sys.modules "
            "if n.split('.')[0] in ('rapidfuzz', 'jsonschema')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
