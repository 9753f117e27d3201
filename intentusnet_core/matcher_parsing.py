"""Matchers read back: from their JSON form in a cassette (:func:`matcher_from_json`) and
from the expressions users write in an ini file (:func:`parse_matcher`).

:func:`parse_matcher` never evaluates text: it parses it with :func:`ast.parse` and accepts
only calls to the matcher factories with literal arguments (and matchers as the values of
``json_text``'s dict). Anything else is refused before anything runs.
"""

from __future__ import annotations

import ast
import inspect
import math
from collections.abc import Callable, Iterator
from typing import Any

from .errors import ConfigurationError, RecordFormatError
from .matcher_base import Matcher, show
from .matcher_documents import json_text, schema, similar
from .matcher_values import exact, ignore, one_of, regex, subset, superset, unordered, within

__all__ = ["matcher_from_json", "parse_matcher"]

FACTORIES: dict[str, Callable[..., Matcher]] = {
    "exact": exact, "ignore": ignore, "within": within, "one_of": one_of, "regex": regex,
    "unordered": unordered, "subset": subset, "superset": superset, "schema": schema,
    "similar": similar, "json_text": json_text,
}
_BARE = ("exact", "ignore", "unordered", "subset", "superset")  # may be written without ()
_NAMED_LITERALS = {"true": True, "false": False, "null": None}

# The JSON form of each kind: key -> (factory argument, kinds of value, required)
_NUMBER = "a number"
_FIELDS: dict[str, dict[str, tuple[str, str, bool]]] = {
    "exact": {}, "ignore": {}, "unordered": {}, "subset": {}, "superset": {},
    "within": {"abs": ("abs", _NUMBER, False), "rel": ("rel", _NUMBER, False)},
    "one_of": {"values": ("values", "an array", True)},
    "regex": {"pattern": ("pattern", "a string", True)},
    "schema": {"schema": ("json_schema", "an object or a boolean", True)},
    "similar": {"minRatio": ("min_ratio", _NUMBER, True),
                "method": ("method", "a string", True)},
    "json_text": {"matchers": ("mapping", "an object", True)},
}


def _of_kind(value: Any, kind: str) -> bool:
    if kind == _NUMBER:
        return isinstance(value, (int, float)) and not isinstance(value, bool) \
            and (isinstance(value, int) or math.isfinite(value))
    if kind == "an array":
        return isinstance(value, list)
    if kind == "a string":
        return isinstance(value, str)
    if kind == "an object":
        return isinstance(value, dict)
    return isinstance(value, (dict, bool))


def matcher_from_json(data: Any) -> Matcher:
    """The matcher whose :meth:`~Matcher.to_json` is *data*, checked strictly.

    Raises :class:`RecordFormatError` naming the field for an unknown matcher, an unknown
    or missing key, a value of the wrong type or an invalid argument (these come from
    cassettes), and :class:`ConfigurationError` for ``custom``, whose function is not
    stored.
    """
    return _from_json(data, "matcher")


def _bad_json(where: str, problem: str) -> RecordFormatError:
    return RecordFormatError(f"{where}: {problem}; the cassette was edited by hand or "
                             "written by another version. Fix the matcher or re-record.")


def _from_json(data: Any, where: str) -> Matcher:
    if not isinstance(data, dict):
        raise _bad_json(where, f"expected an object like {{\"matcher\": \"exact\"}}, got "
                               f"{show(data)}")
    kind = data.get("matcher")
    if kind == "custom":
        raise ConfigurationError(
            f"{where}: a custom matcher ({data.get('function', '?')}) cannot be read back "
            "from JSON, only its function's name is stored; pass custom(fn) in code")
    if not isinstance(kind, str) or kind not in _FIELDS:
        raise _bad_json(f"{where}.matcher", f"unknown matcher {show(kind)}; expected one of "
                                            f"{', '.join(sorted(_FIELDS))}")
    fields = _FIELDS[kind]
    unknown = sorted(key for key in data if key != "matcher" and key not in fields)
    if unknown:
        expected = ", ".join(["matcher", *fields])
        raise _bad_json(where, f"unknown key {unknown[0]!r} for a {kind} matcher; expected "
                               f"only {expected}")
    arguments: dict[str, Any] = {}
    for key, (argument, value_kind, required) in fields.items():
        if key not in data:
            if required:
                raise _bad_json(where, f"a {kind} matcher needs {key!r}")
            continue
        if not _of_kind(data[key], value_kind):
            raise _bad_json(f"{where}.{key}", f"must be {value_kind}, got {show(data[key])}")
        arguments[argument] = data[key]
    if kind == "json_text":
        arguments["mapping"] = {path: _from_json(inner, f"{where}.matchers[{path!r}]")
                                for path, inner in arguments["mapping"].items()}
    values = arguments.pop("values", None)
    try:
        return FACTORIES[kind](*(values or ()), **arguments)
    except ConfigurationError as exc:
        raise _bad_json(where, str(exc)) from None


_ALLOWED = ("a call of exact, ignore, within, one_of, regex, unordered, subset, superset, "
            "schema, similar or json_text with literal arguments (strings, numbers, "
            "true/false/null, lists, dicts), e.g. similar(0.7), within(abs=0.5), "
            "one_of('SAFE', 'FLAGGED') or json_text({'decision': exact()})")


class _Refused(Exception):
    """What is wrong with a part of the expression; parse_matcher adds the expression."""


def parse_matcher(text: str) -> Matcher:
    """The matcher an expression describes, as written in an ini file: ``similar(0.7)``,
    ``within(abs=0.1)``, ``one_of("SAFE", "FLAGGED")``, ``exact``,
    ``json_text({"decision": exact(), "score": within(abs=1)})``. ``repr`` of a matcher
    (all but custom) is such an expression.

    The text is parsed, never evaluated. Raises :class:`ConfigurationError` naming the
    expression for anything but factory calls with literal arguments: names, attribute
    access, lambdas, operators (a minus sign on a number aside), ``custom``, invalid
    arguments and syntax errors.
    """
    if not isinstance(text, str):
        raise ConfigurationError(f"matcher expression {show(text)}: expected a string, "
                                 f"{_ALLOWED}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConfigurationError(f"matcher expression {text!r}: not a valid expression "
                                 f"({exc.msg}); write {_ALLOWED}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ConfigurationError(f"matcher expression {text!r}: cannot be read ({exc}); "
                                 f"write {_ALLOWED}") from None
    try:
        return _matcher(tree.body)
    except _Refused as exc:
        raise ConfigurationError(f"matcher expression {text!r}: {exc}") from None
    except RecursionError:
        raise ConfigurationError(f"matcher expression {text!r}: nested too deep") from None


def _source(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 60 else text[:57] + "..."


def _matcher(node: ast.expr) -> Matcher:
    if isinstance(node, ast.Name) and node.id in _BARE:
        return FACTORIES[node.id]()
    if not isinstance(node, ast.Call):
        raise _Refused(f"{_describe(node)} is not a matcher; write {_ALLOWED}")
    if not isinstance(node.func, ast.Name) or node.func.id not in FACTORIES:
        if isinstance(node.func, ast.Name) and node.func.id == "custom":
            raise _Refused("custom(...) takes a Python function and cannot be written as "
                           "text; pass custom(fn) in code (a conftest or fixture)")
        raise _Refused(f"{_describe(node.func)} is not a matcher factory; write {_ALLOWED}")
    name = node.func.id
    inner = _mapping if name == "json_text" else _literal
    arguments = []
    for argument in node.args:
        if isinstance(argument, ast.Starred):
            raise _Refused(f"*{_source(argument.value)} (unpacking) is not allowed")
        arguments.append(inner(argument))
    keywords = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            raise _Refused(f"**{_source(keyword.value)} (unpacking) is not allowed")
        keywords[keyword.arg] = inner(keyword.value)
    factory = FACTORIES[name]
    signature = inspect.signature(factory)
    try:
        signature.bind(*arguments, **keywords)
    except TypeError as exc:
        usage = signature.replace(return_annotation=signature.empty, parameters=[
            parameter.replace(annotation=parameter.empty)
            for parameter in signature.parameters.values()])
        raise _Refused(f"{exc}; the arguments are {name}{usage}") from None
    try:
        return factory(*arguments, **keywords)
    except ConfigurationError as exc:
        raise _Refused(str(exc)) from None


def _mapping(node: ast.expr) -> dict[str, Matcher]:
    if not isinstance(node, ast.Dict):
        raise _Refused(f"json_text takes a dict of path pattern -> matcher, not "
                       f"{_describe(node)}, e.g. json_text({{'decision': exact()}})")
    return {path: _matcher(value) for path, value
            in _string_keyed(node, "json_text keys are path patterns (strings)")}


def _string_keyed(node: ast.Dict, keys_are: str) -> Iterator[tuple[str, ast.expr]]:
    """*node*'s entries, each key a literal string (else refused: "*keys_are*, not ...")
    and its value's node; refused at the first ``**`` unpacking."""
    for key, value in zip(node.keys, node.values):
        if key is None:
            raise _Refused(f"**{_source(value)} (unpacking) is not allowed")
        name = _literal(key)
        if not isinstance(name, str):
            raise _Refused(f"{keys_are}, not {_source(key)}")
        yield name, value


def _literal(node: ast.expr) -> Any:
    if isinstance(node, ast.Constant) and (node.value is None
                                           or isinstance(node.value, (str, int, float))):
        return node.value  # bool is an int; bytes, complex and ... are refused
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) \
            and isinstance(node.operand, ast.Constant):
        number = node.operand.value
        if isinstance(number, (int, float)) and not isinstance(number, bool):
            return -number
    if isinstance(node, ast.Name) and node.id in _NAMED_LITERALS:
        return _NAMED_LITERALS[node.id]
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(item) for item in node.elts]
    if isinstance(node, ast.Dict):
        return {name: _literal(value) for name, value
                in _string_keyed(node, "dict keys must be strings (as in JSON)")}
    if isinstance(node, ast.Call):
        raise _Refused(f"{_describe(node)} is not allowed here: a matcher call may appear "
                       "only as a value of json_text's dict; other arguments are literals")
    raise _Refused(f"{_describe(node)} is not allowed; arguments must be literals "
                   "(strings, numbers, true/false/null, lists, dicts)")


def _describe(node: ast.expr) -> str:
    what = {ast.Constant: "the literal", ast.Name: "the name",
            ast.Attribute: "attribute access", ast.Lambda: "a lambda",
            ast.JoinedStr: "an f-string", ast.BinOp: "an operator", ast.BoolOp: "an operator",
            ast.Compare: "a comparison", ast.UnaryOp: "an operator", ast.Subscript:
            "subscription", ast.IfExp: "a conditional", ast.Call: "the call",
            ast.ListComp: "a comprehension", ast.DictComp: "a comprehension",
            ast.SetComp: "a comprehension", ast.GeneratorExp: "a comprehension",
            ast.Set: "a set", ast.Starred: "unpacking", ast.NamedExpr: "an assignment",
            ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield"}.get(
        type(node), "the expression")
    return f"{what} {_source(node)}"
