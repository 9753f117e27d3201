"""Field matchers over random values: reflexive where a matcher compares two sides, their
JSON and text forms read back to equal matchers, unordered blind to order, and path
patterns without wildcards naming exactly one path.

Reflexive means ``m.judge(x, x).ok`` for every *x* the matcher accepts:

- exact, ignore: any JSON value (exact compares canonical JSON, equal to itself);
- within: any finite number (``|x - x| = 0``, within every limit);
- unordered: any list; subset, superset: any list or dict (a collection holds itself);
- similar: any string (equal strings score 1, whatever the method or threshold);
- json_text: any string holding JSON, when its matchers are reflexive on the values inside
  (tested with exact and ignore, reflexive on every JSON value);
- one_of, regex, schema judge *after* alone, so ``judge(x, x)`` is ok exactly for the *x*
  they accept: a value in the list, a matching string, a value of the shape;
- custom is as reflexive as its function, so it is left out.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from intentusnet_core.matchers import (
    Matcher,
    compile_path,
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

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, database=None)

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
json_values = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                     st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=12)
numbers = st.one_of(st.integers(-10**30, 10**30),
                    st.floats(allow_nan=False, allow_infinity=False))
limits = st.floats(min_value=0, max_value=1e6, allow_nan=False)
ratios = st.floats(min_value=0, max_value=1, allow_nan=False)
keys = st.text(alphabet="abcxyz_-0123456789", min_size=1, max_size=5)
levels = st.lists(st.one_of(keys, st.integers(0, 12)), min_size=1, max_size=5)
REGEXES = ["^[A-Z]+$", r"\d{1,3}", "(SAFE|FLAGGED)", "[a-z ]*"]
SHAPES: list[dict[str, Any] | bool] = [
    {"type": "object", "properties": {"score": {"type": "number"}}},
    {"type": "array", "items": {"type": "string"}}, {"type": ["string", "null"]}, True]
# the matchers reflexive on every JSON value, for json_text over any document
INNER = st.sampled_from([exact(), ignore()])


def _within() -> st.SearchStrategy[Matcher]:
    return st.one_of(st.builds(lambda a: within(abs=a), limits),
                     st.builds(lambda r: within(rel=r), limits),
                     st.builds(lambda a, r: within(abs=a, rel=r), limits, limits))


serialisable: st.SearchStrategy[Matcher] = st.deferred(lambda: st.one_of(
    st.sampled_from([exact(), ignore(), unordered(), subset(), superset()]),
    _within(),
    st.builds(lambda values: one_of(*values), st.lists(json_values, min_size=1, max_size=4)),
    st.builds(regex, st.sampled_from(REGEXES)),
    st.builds(schema, st.sampled_from(SHAPES)),
    st.builds(similar, ratios, st.sampled_from(["ratio", "token_set", "token_sort",
                                                "partial"])),
    st.builds(json_text, st.dictionaries(st.sampled_from(["a", "b.*", "**.score", "c[*]"]),
                                         serialisable, max_size=3)),
))


@SETTINGS
@given(json_values)
def test_exact_accepts_any_json_value_against_itself(value: Any) -> None:
    assert exact().judge(value, value).ok
    assert exact().judge(value, json.loads(json.dumps(value))).ok


# each matcher with a value it accepts (see the module docstring)
accepted = st.one_of(
    st.tuples(st.sampled_from([exact(), ignore()]), json_values),
    st.tuples(_within(), numbers),
    st.tuples(st.just(unordered()), st.lists(json_values, max_size=5)),
    st.tuples(st.sampled_from([subset(), superset()]),
              st.one_of(st.lists(json_values, max_size=5),
                        st.dictionaries(st.text(max_size=4), json_values, max_size=4))),
    st.tuples(st.builds(similar, ratios, st.sampled_from(["ratio", "token_set", "token_sort",
                                                          "partial"])), st.text()),
    st.builds(lambda values, index: (one_of(*values), values[index % len(values)]),
              st.lists(json_values, min_size=1, max_size=4), st.integers(0, 3)),
    st.sampled_from(REGEXES).flatmap(
        lambda pattern: st.tuples(st.just(regex(pattern)),
                                  st.from_regex(pattern, fullmatch=True))),
    st.tuples(st.just(schema(SHAPES[0])),
              st.dictionaries(st.sampled_from(["score", "other"]), numbers, max_size=2)),
    st.tuples(st.just(schema(SHAPES[1])), st.lists(st.text(max_size=5), max_size=3)),
    st.tuples(st.builds(json_text, st.dictionaries(
        st.sampled_from(["a", "a.*", "**", "**.b", "[*]"]), INNER, max_size=3)),
        json_values.map(json.dumps)),
)


@SETTINGS
@given(accepted)
def test_every_matcher_accepts_a_value_against_itself(case: tuple[Matcher, Any]) -> None:
    matcher, value = case
    verdict = matcher.judge(value, value)
    assert verdict.ok, verdict.measure


@SETTINGS
@given(serialisable)
def test_the_json_form_reads_back_to_an_equal_matcher(matcher: Matcher) -> None:
    form = matcher.to_json()
    assert matcher_from_json(form) == matcher
    again = matcher_from_json(json.loads(json.dumps(form, sort_keys=True)))
    assert again == matcher
    assert hash(again) == hash(matcher)
    assert again.to_json() == form


@SETTINGS
@given(serialisable)
def test_the_repr_parses_back_to_an_equal_matcher(matcher: Matcher) -> None:
    assert parse_matcher(repr(matcher)) == matcher


@SETTINGS
@given(st.lists(json_values, max_size=6).flatmap(
    lambda items: st.tuples(st.just(items), st.permutations(items))), json_values)
def test_unordered_is_blind_to_order_and_sees_a_change(lists: tuple[list[Any], list[Any]],
                                                       extra: Any) -> None:
    items, permuted = lists
    assert unordered().judge(items, permuted).ok
    assert unordered().judge(permuted, items).ok
    assert not unordered().judge(items, [*permuted, extra]).ok


def _path(parts: list[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _nest(parts: list[str | int], leaf: Any) -> Any:
    value = leaf
    for part in reversed(parts):
        value = [None] * part + [value] if isinstance(part, int) else {part: value}
    return value


@SETTINGS
@given(levels, levels)
def test_a_pattern_without_wildcards_matches_only_its_path(parts: list[str | int],
                                                           other: list[str | int]) -> None:
    path = _path(parts)
    regex_ = compile_path(path)
    assert regex_.match(path)
    assert (regex_.match(_path(other)) is not None) is (_path(other) == path)
    found = match_paths(_nest(parts, "leaf"), path)
    assert found == [(path, "leaf")]


@SETTINGS
@given(st.dictionaries(st.sampled_from(["**", "a.*", "a.b", "*.b", "a.**", "**.b", "a[*]",
                                        "*", "a.b*"]), st.integers(), min_size=1),
       st.permutations(range(9)), st.sampled_from(["a.b", "a[0]", "x.b", "a.bc", "a"]))
def test_find_matcher_does_not_depend_on_mapping_order(patterns: dict[str, int],
                                                       order: list[int], path: str) -> None:
    items = list(patterns.items())
    shuffled = dict(items[i] for i in order if i < len(items))
    assert find_matcher(path, shuffled) == find_matcher(path, patterns)


@SETTINGS
@given(serialisable, st.one_of(json_values, json_values.map(json.dumps)),
       st.one_of(json_values, json_values.map(json.dumps)))
def test_judging_any_pair_gives_a_verdict(matcher: Matcher, before: Any, after: Any) -> None:
    verdict = matcher.judge(before, after)
    assert verdict.measure
    assert verdict == matcher.judge(before, after)  # deterministic
