"""Maven artifact versions, ordered as Maven 3.8's ``ComparableVersion`` orders them.

The version is lower-cased and split into items at ``.``, at ``-`` and at
every change between digits and other characters.  ``-`` and a digit/letter
change open a nested list, so ``1-1`` and ``1.1`` differ; a qualifier at the
very end always goes into a nested list (``1.foo`` = ``1-foo``).  Trailing
"null" items (``0``, ``""``, ``ga``, ``final``, ``release``, empty lists) are
dropped at every level.  Items compare as: numbers numerically; qualifiers
``alpha`` (``a`` before a digit) < ``beta`` (``b``) < ``milestone`` (``m``) <
``rc`` = ``cr`` < ``snapshot`` < ``""`` = ``ga`` = ``final`` = ``release`` < ``sp`` < other words
(alphabetically); a number > a list > a qualifier; a missing item compares as null.

Maven's ordering is not transitive in some artificial cases (``1.0.alpha.1 <
1 < 1.sp.1`` yet ``1.0.alpha.1 > 1.sp.1``), so keys are objects that apply
Maven's pairwise comparison rather than plain tuples.
"""

from __future__ import annotations

from functools import total_ordering
from typing import ClassVar, cast

from harbourmaster.domain.versions.interface import VersionScheme

__all__ = ["MavenVersion", "MavenVersionScheme"]

_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_RELEASE = str(_QUALIFIERS.index(""))
_ALIASES = {"ga": "", "final": "", "release": "", "cr": "rc"}
_SHORT = {"a": "alpha", "b": "beta", "m": "milestone"}

_INT, _STR, _LIST = 0, 1, 2
# An item is (_INT, number), (_STR, comparable qualifier) or (_LIST, items).
_Item = tuple[int, object]


def _qualifier(word: str, *, followed_by_digit: bool) -> _Item:
    if followed_by_digit and word in _SHORT:
        word = _SHORT[word]
    word = _ALIASES.get(word, word)
    index = _QUALIFIERS.index(word) if word in _QUALIFIERS else -1
    return (_STR, f"{len(_QUALIFIERS)}-{word}" if index < 0 else str(index))


def _is_null(item: _Item) -> bool:
    kind, value = item
    if kind == _INT:
        return value == 0
    if kind == _STR:
        return value == _RELEASE
    return not value


def _normalize(items: list[_Item]) -> None:
    for index in range(len(items) - 1, -1, -1):
        if _is_null(items[index]):
            del items[index]
        elif items[index][0] != _LIST:
            break


def _cmp(a: object, b: object) -> int:
    result: int = (a > b) - (a < b)  # type: ignore[operator]  # both int or both str
    return result


def _compare(left: _Item | None, right: _Item | None) -> int:
    if left is None:
        return 0 if right is None else -_compare(right, None)
    kind, value = left
    if right is None:
        if kind == _INT:
            return 1 if value else 0
        if kind == _STR:
            return _cmp(value, _RELEASE)
        for item in value:  # type: ignore[attr-defined]
            result = _compare(item, None)
            if result:
                return result
        return 0
    other_kind, other_value = right
    if kind != other_kind:
        # number > list > qualifier
        order = {_INT: 2, _LIST: 1, _STR: 0}
        return 1 if order[kind] > order[other_kind] else -1
    if kind != _LIST:
        return _cmp(value, other_value)
    mine: tuple[_Item, ...] = value  # type: ignore[assignment]
    theirs: tuple[_Item, ...] = other_value  # type: ignore[assignment]
    for index in range(max(len(mine), len(theirs))):
        result = _compare(
            mine[index] if index < len(mine) else None,
            theirs[index] if index < len(theirs) else None,
        )
        if result:
            return result
    return 0


def _freeze(items: list[_Item]) -> _Item:
    return (_LIST, tuple(items))


def _parse(version: str) -> _Item:
    text = version.lower()
    root: list[_Item] = []
    current = root
    # Each nested list is kept with the index where it sits in its parent, so
    # it can be frozen into a tuple once normalized.
    stack: list[tuple[list[_Item], list[_Item], int]] = []

    def open_list() -> None:
        nonlocal current
        child: list[_Item] = []
        current.append((_LIST, ()))
        stack.append((current, child, len(current) - 1))
        current = child

    def item(is_digit: bool, word: str) -> _Item:
        return (_INT, int(word)) if is_digit else _qualifier(word, followed_by_digit=False)

    is_digit = False
    start = 0
    for index, char in enumerate(text):
        if char in ".-":
            current.append((_INT, 0) if index == start else item(is_digit, text[start:index]))
            start = index + 1
            if char == "-":
                open_list()
        elif "0" <= char <= "9":
            if not is_digit and index > start:
                # A qualifier after a "." is treated as after a "-": 1.0.0.RC1 = 1.0.0-RC1.
                if current:
                    open_list()
                current.append(_qualifier(text[start:index], followed_by_digit=True))
                start = index
                open_list()
            is_digit = True
        else:
            if is_digit and index > start:
                current.append((_INT, int(text[start:index])))
                start = index
                open_list()
            is_digit = False
    if len(text) > start:
        if not is_digit and current:
            open_list()
        current.append(item(is_digit, text[start:]))
    while stack:
        parent, child, position = stack.pop()
        _normalize(child)
        parent[position] = _freeze(child)
    _normalize(root)
    return _freeze(root)


@total_ordering
class MavenVersion:
    """A parsed Maven version; compares with Maven's rules, equal when the parsed items are equal."""

    __slots__ = ("_items", "_text")

    def __init__(self, text: str, items: _Item) -> None:
        self._text = text
        self._items = items

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MavenVersion):
            return NotImplemented
        return self._items == other._items

    def __lt__(self, other: MavenVersion) -> bool:
        return _compare(self._items, other._items) < 0

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"MavenVersion({self._text!r})"


class MavenVersionScheme(VersionScheme):
    """Maven versions.  Every non-empty string without white space is a valid Maven version."""

    name: ClassVar[str] = "Maven"

    def _key(self, text: str) -> MavenVersion:
        if not text:
            raise self.invalid(text, "the version is empty")
        if any(c.isspace() or not c.isprintable() for c in text):
            raise self.invalid(text, "the version contains white space or control characters")
        return MavenVersion(text, _parse(text))

    def compare(self, a: str, b: str) -> int:
        """Maven's pairwise comparison of ``a`` and ``b`` (-1, 0 or 1).

        Raises:
            InvalidVersion: either string is empty or contains white space.
        """
        left = cast(MavenVersion, self.sort_key(a))
        right = cast(MavenVersion, self.sort_key(b))
        return _compare(left._items, right._items)
