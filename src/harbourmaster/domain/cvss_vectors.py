"""A CVSS vector for a base score: how an advisory kept as its score is written back out as OSV.

The advisory store keeps an advisory's severity, where it came from (``CVSS_V3``) and its base score,
not the vector.  To write the advisory back as an OSV record that an import rates the same (the same
severity *and* score, by the same scale), :func:`vector_for_score` gives a vector of that CVSS version
with exactly that base score as the ``cvss`` library computes it.  It is a representative vector, not
the advisory's own.

CVSS v2 and v3 vectors are enumerated once on first use (729 and 2 x 2,592 base vectors, well under a
second); CVSS v4's 104,976 base vectors (and their exploit maturity) are too many to score at run time,
so one vector per reachable score is kept below (made by scoring all of them; a test re-checks each).
"""

from __future__ import annotations

import itertools
from functools import cache
from typing import Final

from cvss import CVSS2, CVSS3

__all__ = ["vector_for_score"]

#: One CVSS v4.0 vector (without its ``CVSS:4.0/`` prefix) per base score it can reach.
_V4: Final[dict[float, str]] = {
    0.0: "AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N",
    0.1: "AV:A/AC:L/AT:P/PR:L/UI:P/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L/E:U",
    0.2: "AV:N/AC:L/AT:P/PR:H/UI:A/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L/E:U",
    0.3: "AV:A/AC:L/AT:P/PR:L/UI:P/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L/E:P",
    0.4: "AV:N/AC:L/AT:P/PR:L/UI:A/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L/E:U",
    0.5: "AV:N/AC:L/AT:P/PR:N/UI:A/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L/E:U",
    0.6: "AV:N/AC:L/AT:P/PR:N/UI:P/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L/E:U",
    0.7: "AV:A/AC:L/AT:P/PR:L/UI:P/VC:H/VI:L/VA:L/SC:L/SI:L/SA:L/E:U",
    0.8: "AV:A/AC:L/AT:P/PR:L/UI:P/VC:L/VI:L/VA:L/SC:H/SI:N/SA:N/E:P",
    0.9: "AV:N/AC:L/AT:P/PR:H/UI:A/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L/E:P",
    1.0: "AV:A/AC:L/AT:P/PR:L/UI:P/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L",
    1.1: "AV:N/AC:L/AT:P/PR:L/UI:A/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L/E:P",
    1.2: "AV:N/AC:L/AT:P/PR:N/UI:A/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L/E:P",
    1.3: "AV:N/AC:L/AT:P/PR:N/UI:P/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L/E:P",
    1.4: "AV:N/AC:L/AT:P/PR:N/UI:P/VC:L/VI:L/VA:L/SC:H/SI:H/SA:L/E:U",
    1.5: "AV:A/AC:L/AT:P/PR:L/UI:P/VC:H/VI:N/VA:N/SC:L/SI:L/SA:L/E:P",
    1.6: "AV:A/AC:L/AT:P/PR:L/UI:P/VC:H/VI:L/VA:L/SC:L/SI:L/SA:L/E:P",
    1.7: "AV:A/AC:L/AT:P/PR:L/UI:P/VC:H/VI:L/VA:H/SC:L/SI:L/SA:L/E:P",
    1.8: "AV:N/AC:L/AT:P/PR:H/UI:A/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L",
    1.9: "AV:N/AC:L/AT:N/PR:L/UI:A/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L/E:P",
    2.0: "AV:N/AC:L/AT:P/PR:L/UI:A/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L",
    2.1: "AV:N/AC:L/AT:P/PR:N/UI:A/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L",
    2.2: "AV:N/AC:L/AT:P/PR:N/UI:A/VC:L/VI:L/VA:L/SC:H/SI:L/SA:N/E:P",
    2.3: "AV:N/AC:L/AT:P/PR:N/UI:P/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L",
    2.4: "AV:A/AC:L/AT:N/PR:L/UI:P/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L",
    2.5: "AV:N/AC:L/AT:P/PR:N/UI:P/VC:L/VI:L/VA:L/SC:H/SI:H/SA:L/E:P",
    2.6: "AV:N/AC:L/AT:P/PR:N/UI:P/VC:L/VI:L/VA:L/SC:H/SI:H/SA:H/E:P",
    2.7: "AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L/E:U",
    2.8: "AV:N/AC:L/AT:P/PR:N/UI:N/VC:L/VI:L/VA:L/SC:H/SI:H/SA:L/E:U",
    2.9: "AV:N/AC:L/AT:P/PR:N/UI:N/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L/E:P",
    3.0: "AV:A/AC:L/AT:P/PR:L/UI:P/VC:H/VI:H/VA:N/SC:H/SI:N/SA:N/E:U",
    3.1: "AV:N/AC:L/AT:P/PR:H/UI:A/VC:H/VI:N/VA:N/SC:H/SI:N/SA:N/E:U",
    3.2: "AV:A/AC:L/AT:N/PR:L/UI:P/VC:H/VI:N/VA:N/SC:L/SI:L/SA:L/E:P",
    3.3: "AV:A/AC:L/AT:N/PR:L/UI:P/VC:H/VI:L/VA:L/SC:L/SI:L/SA:L/E:P",
    3.4: "AV:A/AC:L/AT:N/PR:L/UI:P/VC:H/VI:L/VA:H/SC:L/SI:L/SA:L/E:P",
    3.5: "AV:N/AC:L/AT:P/PR:L/UI:A/VC:H/VI:L/VA:L/SC:H/SI:N/SA:N/E:U",
    3.6: "AV:A/AC:L/AT:P/PR:L/UI:P/VC:H/VI:N/VA:N/SC:H/SI:N/SA:N/E:P",
    3.7: "AV:A/AC:L/AT:P/PR:L/UI:P/VC:H/VI:L/VA:N/SC:H/SI:N/SA:N/E:P",
    3.8: "AV:A/AC:L/AT:P/PR:L/UI:P/VC:H/VI:L/VA:L/SC:H/SI:N/SA:N/E:P",
    3.9: "AV:A/AC:L/AT:P/PR:L/UI:P/VC:H/VI:L/VA:N/SC:H/SI:L/SA:N/E:P",
    4.0: "AV:N/AC:L/AT:P/PR:H/UI:A/VC:L/VI:L/VA:L/SC:H/SI:N/SA:N",
    4.1: "AV:A/AC:L/AT:N/PR:L/UI:P/VC:L/VI:L/VA:L/SC:H/SI:N/SA:N",
    4.2: "AV:A/AC:L/AT:N/PR:L/UI:P/VC:L/VI:L/VA:L/SC:H/SI:L/SA:N",
    4.3: "AV:N/AC:L/AT:P/PR:L/UI:A/VC:L/VI:L/VA:L/SC:H/SI:N/SA:N",
    4.4: "AV:A/AC:L/AT:N/PR:L/UI:P/VC:L/VI:L/VA:L/SC:H/SI:H/SA:N",
    4.5: "AV:N/AC:L/AT:P/PR:L/UI:A/VC:L/VI:L/VA:L/SC:H/SI:L/SA:N",
    4.6: "AV:N/AC:L/AT:N/PR:H/UI:A/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L",
    4.7: "AV:N/AC:L/AT:P/PR:H/UI:A/VC:L/VI:L/VA:L/SC:H/SI:H/SA:L",
    4.8: "AV:N/AC:L/AT:N/PR:L/UI:A/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L",
    4.9: "AV:N/AC:L/AT:P/PR:N/UI:P/VC:L/VI:L/VA:L/SC:H/SI:N/SA:N",
    5.0: "AV:N/AC:L/AT:P/PR:L/UI:A/VC:L/VI:L/VA:L/SC:H/SI:H/SA:L",
    5.1: "AV:N/AC:L/AT:N/PR:N/UI:A/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L",
    5.2: "AV:N/AC:L/AT:P/PR:L/UI:A/VC:L/VI:L/VA:L/SC:H/SI:H/SA:H",
    5.3: "AV:N/AC:L/AT:N/PR:N/UI:P/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L",
    5.4: "AV:A/AC:L/AT:P/PR:L/UI:P/VC:H/VI:H/VA:H/SC:L/SI:L/SA:L",
    5.5: "AV:N/AC:L/AT:P/PR:N/UI:A/VC:L/VI:L/VA:L/SC:H/SI:H/SA:H",
    5.6: "AV:N/AC:L/AT:P/PR:N/UI:P/VC:L/VI:L/VA:L/SC:H/SI:H/SA:L",
    5.7: "AV:N/AC:L/AT:P/PR:L/UI:A/VC:H/VI:N/VA:N/SC:L/SI:L/SA:L",
    5.8: "AV:N/AC:L/AT:P/PR:N/UI:P/VC:L/VI:L/VA:L/SC:H/SI:H/SA:H",
    5.9: "AV:N/AC:L/AT:N/PR:H/UI:A/VC:L/VI:L/VA:L/SC:H/SI:N/SA:N",
    6.0: "AV:N/AC:L/AT:N/PR:L/UI:A/VC:L/VI:L/VA:L/SC:H/SI:N/SA:N",
    6.1: "AV:N/AC:L/AT:N/PR:N/UI:A/VC:L/VI:L/VA:L/SC:H/SI:N/SA:N",
    6.2: "AV:N/AC:L/AT:N/PR:N/UI:A/VC:L/VI:L/VA:L/SC:H/SI:L/SA:N",
    6.3: "AV:N/AC:L/AT:N/PR:N/UI:P/VC:L/VI:L/VA:L/SC:H/SI:L/SA:N",
    6.4: "AV:N/AC:L/AT:N/PR:N/UI:P/VC:L/VI:L/VA:L/SC:H/SI:H/SA:L",
    6.5: "AV:N/AC:L/AT:N/PR:N/UI:P/VC:L/VI:L/VA:L/SC:H/SI:H/SA:H",
    6.6: "AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:H/SI:N/SA:N/E:P",
    6.7: "AV:N/AC:L/AT:N/PR:H/UI:A/VC:H/VI:N/VA:N/SC:L/SI:L/SA:L",
    6.8: "AV:N/AC:L/AT:N/PR:L/UI:A/VC:H/VI:N/VA:N/SC:L/SI:L/SA:L",
    6.9: "AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L",
    7.0: "AV:N/AC:L/AT:N/PR:N/UI:A/VC:H/VI:L/VA:L/SC:L/SI:L/SA:L",
    7.1: "AV:N/AC:L/AT:N/PR:N/UI:P/VC:H/VI:L/VA:N/SC:L/SI:L/SA:L",
    7.2: "AV:N/AC:L/AT:N/PR:N/UI:P/VC:H/VI:L/VA:H/SC:L/SI:L/SA:L",
    7.3: "AV:N/AC:L/AT:P/PR:N/UI:P/VC:H/VI:L/VA:H/SC:H/SI:H/SA:L",
    7.4: "AV:N/AC:L/AT:P/PR:N/UI:P/VC:H/VI:L/VA:H/SC:H/SI:H/SA:H",
    7.5: "AV:N/AC:L/AT:P/PR:N/UI:A/VC:H/VI:H/VA:H/SC:L/SI:L/SA:L",
    7.6: "AV:N/AC:L/AT:P/PR:N/UI:P/VC:H/VI:H/VA:L/SC:L/SI:L/SA:L",
    7.7: "AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:H/SI:N/SA:N",
    7.8: "AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:H/SI:H/SA:N",
    7.9: "AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:H/SI:H/SA:H",
    8.0: "AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:L/VA:H/SC:H/SI:H/SA:H/E:P",
    8.1: "AV:N/AC:L/AT:N/PR:H/UI:A/VC:H/VI:L/VA:L/SC:H/SI:N/SA:N",
    8.2: "AV:N/AC:L/AT:N/PR:N/UI:A/VC:H/VI:N/VA:N/SC:H/SI:N/SA:N",
    8.3: "AV:N/AC:L/AT:N/PR:N/UI:P/VC:H/VI:L/VA:N/SC:H/SI:N/SA:N",
    8.4: "AV:N/AC:L/AT:N/PR:N/UI:P/VC:H/VI:L/VA:H/SC:H/SI:L/SA:N",
    8.5: "AV:N/AC:L/AT:N/PR:N/UI:P/VC:H/VI:L/VA:H/SC:H/SI:H/SA:L",
    8.6: "AV:N/AC:L/AT:N/PR:N/UI:P/VC:H/VI:H/VA:N/SC:L/SI:L/SA:L",
    8.7: "AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:N/VA:N/SC:L/SI:L/SA:L",
    8.8: "AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:L/VA:H/SC:L/SI:L/SA:L",
    8.9: "AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:N/VA:N/SC:H/SI:N/SA:N",
    9.0: "AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:L/VA:H/SC:H/SI:N/SA:N",
    9.1: "AV:N/AC:L/AT:N/PR:H/UI:A/VC:H/VI:H/VA:N/SC:H/SI:N/SA:N",
    9.2: "AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:L/VA:H/SC:H/SI:L/SA:N",
    9.3: "AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:L/SI:L/SA:L",
    9.4: "AV:N/AC:L/AT:N/PR:N/UI:P/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H",
    9.5: "AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H",
    9.9: "AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:N",
    10.0: "AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H",
}


@cache
def _v2() -> dict[float, str]:
    found: dict[float, str] = {}
    for av, ac, au, c, i, a in itertools.product("LAN", "HML", "MSN", "NPC", "NPC", "NPC"):
        vector = f"AV:{av}/AC:{ac}/Au:{au}/C:{c}/I:{i}/A:{a}"
        found.setdefault(float(CVSS2(vector).base_score), vector)
    return found


@cache
def _v3() -> dict[float, str]:
    found: dict[float, str] = {}
    metrics = itertools.product("NALP", "LH", "NLH", "NR", "UC", "HLN", "HLN", "HLN")
    for av, ac, pr, ui, scope, c, i, a in metrics:
        base = f"AV:{av}/AC:{ac}/PR:{pr}/UI:{ui}/S:{scope}/C:{c}/I:{i}/A:{a}"
        for version in ("3.1", "3.0"):  # 3.0 rounds a few scores differently
            vector = f"CVSS:{version}/{base}"
            found.setdefault(float(CVSS3(vector).base_score), vector)
    return found


def vector_for_score(source: str, score: float) -> str | None:
    """A vector of ``source``'s CVSS version (``CVSS_V2``, ``CVSS_V3``, ``CVSS_V4``) whose base score is
    ``score``; None when the source is not a CVSS version or no vector of it reaches that score."""
    key = round(float(score), 1)
    if source == "CVSS_V2":
        return _v2().get(key)
    if source == "CVSS_V3":
        return _v3().get(key)
    if source == "CVSS_V4":
        vector = _V4.get(key)
        return None if vector is None else f"CVSS:4.0/{vector}"
    return None
