"""Parsing ``WWW-Authenticate`` headers (RFC 9110 section 11.6.1).

A header may hold several challenges (``Basic realm="r", Bearer realm="t",
service="s"``), parameter values may be tokens or quoted strings, and quoted
strings may contain commas, spaces and backslash escapes - registries put
several scopes (``repository:a:pull,push``) into one quoted ``scope``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Challenge", "parse_www_authenticate"]

_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True)
class Challenge:
    """One authentication challenge: its scheme (lower-cased) and parameters (keys lower-cased)."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scopes(self) -> tuple[str, ...]:
        """The ``scope`` parameter split on spaces (each item one ``type:name:actions``)."""
        return tuple(s for s in self.params.get("scope", "").split(" ") if s)


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def token(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _TOKEN_CHARS:
            self.pos += 1
        return self.text[start : self.pos]

    def token68(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and (
            self.text[self.pos] in _TOKEN_CHARS or self.text[self.pos] in "/="
        ):
            self.pos += 1
        return self.text[start : self.pos]

    def quoted(self) -> str:
        # Called with the opening quote at self.pos.
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if ch == '"':
                self.pos += 1
                return "".join(out)
            out.append(ch)
            self.pos += 1
        raise ValueError("unterminated quoted string")


def _is_token68_tail(text: str, pos: int) -> bool:
    """At ``pos`` is a run of '=' ending the item (``abc==``): the padding of a token68."""
    end = pos
    while end < len(text) and text[end] == "=":
        end += 1
    rest = text[end:].lstrip(" \t")
    return (end - pos >= 2 or not rest or rest.startswith(",")) and (not rest or rest.startswith(","))


def parse_www_authenticate(header: str) -> list[Challenge]:
    """Parse every challenge in a ``WWW-Authenticate`` value.

    Raises:
        ValueError: the header is not a well-formed challenge list (the message says where).
    """
    sc = _Scanner(header)
    challenges: list[Challenge] = []
    while True:
        sc.skip_ws()
        while sc.peek() == ",":
            sc.pos += 1
            sc.skip_ws()
        if not sc.peek():
            break
        scheme = sc.token()
        if not scheme:
            raise ValueError(f"expected an authentication scheme at offset {sc.pos} of WWW-Authenticate")
        params: dict[str, str] = {}
        sc.skip_ws()
        # Either a token68 or a comma-separated list of auth-params follows the scheme.
        while sc.peek() and sc.peek() != ",":
            mark = sc.pos
            name = sc.token()
            sc.skip_ws()
            if name and sc.peek() == "=" and not _is_token68_tail(sc.text, sc.pos):
                sc.pos += 1
                sc.skip_ws()
                value = sc.quoted() if sc.peek() == '"' else sc.token()
                params[name.lower()] = value
            else:
                sc.pos = mark
                blob = sc.token68()
                if not blob:
                    raise ValueError(
                        f"unexpected character {sc.peek()!r} at offset {sc.pos} of WWW-Authenticate"
                    )
                params[""] = blob
            sc.skip_ws()
            if sc.peek() == ",":
                # Is the next item another parameter of this challenge or a new challenge?
                save = sc.pos
                sc.pos += 1
                sc.skip_ws()
                lookahead = sc.pos
                name = sc.token()
                sc.skip_ws()
                if name and sc.peek() == "=" and not sc.text.startswith("==", sc.pos):
                    sc.pos = lookahead
                    continue
                sc.pos = save
                break
        challenges.append(Challenge(scheme=scheme.lower(), params=params))
    return challenges
