"""Kyverno's evaluation of the exported ``ClusterPolicy``, as far as harbourmaster's rules use it.

The Kyverno binary cannot run here, so its verdict on a pod is computed the way Kyverno computes it:
each condition key must be one Kyverno variable (``{{ ... }}``), whose JMESPath expression is
evaluated by the ``jmespath`` library (installed with botocore, a test dependency) with Kyverno's
custom functions ``regex_match`` (Go's ``regexp.Match``, unanchored) and ``regex_replace_all`` (Go's
``Regexp.ReplaceAll``, ``$1``/``${1}`` templates), then compared with the condition's operator.

The regex engine is pluggable: :class:`PythonGoRegex` gives Go's semantics on Python's ``re`` for the
syntax the exports use (and refuses what it cannot translate), and the integration test plugs in Go's
own ``regexp`` (Kyverno's engine).  Nothing in here knows what the expressions are for: a condition
the exporter adds is evaluated as it is written.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Protocol

import jmespath
from jmespath import functions as jp_functions

from harbourmaster.domain.exports.kyverno import CONTAINER_LIST

__all__ = [
    "KYVERNO_VARIABLE",
    "PythonGoRegex",
    "RegexEngine",
    "evaluate_key",
    "kyverno_allows",
]

#: Kyverno's variable syntax (pkg/engine/variables/regex): a key outside it is not evaluated at all.
KYVERNO_VARIABLE = re.compile(r"\{\{(\{[^{}]*\}|[^{}])*\}\}")


class RegexEngine(Protocol):
    def match(self, regex: str, text: str) -> bool:
        """Go's ``regexp.Match``: does ``regex`` match anywhere in ``text``."""
        ...

    def replace_all(self, regex: str, text: str, template: str) -> str:
        """Go's ``Regexp.ReplaceAll``: every match of ``regex`` replaced by ``template`` expanded."""
        ...


@functools.cache
def _compile_go(regex: str) -> re.Pattern[str]:
    """``regex`` (Go syntax) as a Python pattern with Go's meaning.

    Go's ``$`` without ``(?m)`` is the end of the text; Python's also matches before a final newline,
    so it becomes ``\\Z``.  Escapes whose classes differ between the engines (``\\w``, ``\\d``, ``\\s``,
    ``\\b`` are ASCII in Go, Unicode in Python) and the flags ``m`` and ``U`` are refused."""
    assert "[[:" not in regex, f"POSIX classes are not emulated: {regex}"
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(regex):
        char = regex[i]
        if char == "\\":
            escaped = regex[i + 1]
            assert escaped not in "wWdDsSbBAzZ", f"escape \\{escaped} differs between Go and Python: {regex}"
            out.append(regex[i : i + 2])
            i += 2
            continue
        i += 1
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            for literal in ("^", "]"):  # "[^" negates; a "]" right after "[" or "[^" is literal
                if regex.startswith(literal, i):
                    char += literal
                    i += 1
        elif char == "$":
            char = r"\Z"
        elif char == "(" and regex.startswith("?", i):
            flags = re.match(r"\?([a-zA-Z]*)", regex[i:])
            assert flags is not None and not set(flags.group(1)) & set("mU"), f"flags not emulated: {regex}"
        out.append(char)
    return re.compile("".join(out))


_TEMPLATE_NAME = re.compile(r"[A-Za-z0-9_]+")


def _go_expand(template: str, found: re.Match[str]) -> str:
    """Go's ``Regexp.Expand``: ``$name``, ``${name}`` (a number is a group index), ``$$``; an unknown
    or unmatched group is empty, a malformed ``$`` is kept as text."""
    out: list[str] = []
    i = 0
    while i < len(template):
        char = template[i]
        if char != "$" or i + 1 == len(template):
            out.append(char)
            i += 1
            continue
        if template[i + 1] == "$":
            out.append("$")
            i += 2
            continue
        if template[i + 1] == "{":
            end = template.find("}", i + 2)
            name = template[i + 2 : end] if end > 0 else ""
            if not _TEMPLATE_NAME.fullmatch(name):
                out.append("$")
                i += 1
                continue
            i = end + 1
        else:
            word = _TEMPLATE_NAME.match(template, i + 1)
            if word is None:
                out.append("$")
                i += 1
                continue
            name = word.group()
            i = word.end()
        if name.isdigit():
            index = int(name)
            out.append((found.group(index) or "") if index <= (found.re.groups) else "")
        else:
            out.append((found.group(name) or "") if name in found.re.groupindex else "")
    return "".join(out)


class PythonGoRegex:
    """Go's ``regexp`` semantics on Python's ``re`` (see :func:`_compile_go`)."""

    def match(self, regex: str, text: str) -> bool:
        return _compile_go(regex).search(text) is not None

    def replace_all(self, regex: str, text: str, template: str) -> str:
        # Go's replaceAll loop: an empty match right after a match is not replaced, and the search
        # always advances by at least one character.
        pattern = _compile_go(regex)
        out: list[str] = []
        last_end = 0
        search = 0
        while search <= len(text):
            found = pattern.search(text, search)
            if found is None:
                break
            start, end = found.span()
            out.append(text[last_end:start])
            if end > last_end or start == 0:
                out.append(_go_expand(template, found))
            last_end = end
            search = search + 1 if search + 1 > end else end
        out.append(text[last_end:])
        return "".join(out)


def _kyverno_string(value: Any) -> str:
    """Kyverno's ``ifaceToString`` for the argument types these functions take."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return format(value, "g")
    raise AssertionError(f"Kyverno refuses the argument {value!r}")


class _KyvernoFunctions(jp_functions.Functions):  # type: ignore[misc]  # jmespath is untyped
    def __init__(self, engine: RegexEngine) -> None:
        super().__init__()
        self.engine = engine

    @jp_functions.signature({"types": ["string"]}, {"types": ["string", "number"]})  # type: ignore[untyped-decorator]
    def _func_regex_match(self, regex: str, src: Any) -> bool:
        return self.engine.match(regex, _kyverno_string(src))

    @jp_functions.signature(  # type: ignore[untyped-decorator]
        {"types": ["string"]}, {"types": ["string", "number"]}, {"types": ["string", "number"]}
    )
    def _func_regex_replace_all(self, regex: str, src: Any, replacement: Any) -> str:
        return self.engine.replace_all(regex, _kyverno_string(src), _kyverno_string(replacement))


@functools.cache
def _expression(key: str) -> Any:
    assert KYVERNO_VARIABLE.fullmatch(key), f"not one Kyverno variable, so not evaluated: {key}"
    return jmespath.compile(key[2:-2].strip())


def evaluate_key(key: str, image: Any, engine: RegexEngine) -> Any:
    """The value of condition key ``key`` for a container whose image is ``image``."""
    options = jmespath.Options(custom_functions=_KyvernoFunctions(engine))
    return _expression(key).search({"element": {"image": image}}, options=options)


def _holds(condition: dict[str, Any], image: Any, engine: RegexEngine) -> bool:
    key = evaluate_key(condition["key"], image, engine)
    operator, value = condition["operator"], condition["value"]
    if operator == "Equals":
        return bool(key == value and type(key) is type(value))
    if operator == "GreaterThan":
        assert isinstance(key, int | float) and not isinstance(key, bool), key
        assert isinstance(value, int | float) and not isinstance(value, bool), value
        return key > value
    raise AssertionError(f"operator {operator} is not emulated")


def kyverno_allows(
    policy: dict[str, Any], namespace: str, image: Any, engine: RegexEngine | None = None
) -> bool:
    """Kyverno's verdict on a pod of ``namespace`` with one container: every matching rule's foreach
    denies nothing."""
    engine = engine or PythonGoRegex()
    for rule in policy["spec"]["rules"]:
        if "validate" not in rule or namespace not in rule["match"]["any"][0]["resources"]["namespaces"]:
            continue
        for each in rule["validate"]["foreach"]:
            assert each["list"] == CONTAINER_LIST
            conditions = each["deny"].get("conditions")
            if conditions is None:
                return False  # a deny without conditions denies every element
            assert set(conditions) <= {"all", "any"}, conditions
            alls = [_holds(c, image, engine) for c in conditions.get("all", [])]
            anys = [_holds(c, image, engine) for c in conditions.get("any", [])]
            if (not alls or all(alls)) and (not anys or any(anys)):
                return False
    return True
