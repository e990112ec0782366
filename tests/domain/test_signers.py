"""The signer policy: any/all of a tier's signers, and fail-closed when none is configured."""

from __future__ import annotations

import pytest

from harbourmaster.domain.signers import SignerPolicy, SignersRequired
from harbourmaster.domain.signing_trust import SigningTrust, TrustedIdentity, TrustedKey, signing_problems


def test_any_is_met_by_one_listed_signer() -> None:
    policy = SignerPolicy(("a", "b"), SignersRequired.ANY)
    assert policy.evaluate(["b"]).satisfied
    assert not policy.evaluate([]).satisfied
    verdict = policy.evaluate(["c"])  # a verified signer the tier does not list does not count
    assert not verdict.satisfied and "no valid signature by any of a, b" in verdict.reason


def test_all_needs_every_signer() -> None:
    policy = SignerPolicy(("a", "b"), SignersRequired.ALL)
    verdict = policy.evaluate(["a"])
    assert not verdict.satisfied and "no valid signature by b" in verdict.reason
    assert policy.evaluate(["b", "a", "c"]).satisfied


def test_a_required_signature_without_signers_is_never_met() -> None:
    verdict = SignerPolicy((), SignersRequired.ANY).evaluate(["anything"])
    assert not verdict.satisfied and "no trusted signer is configured" in verdict.reason


def test_no_signature_required_is_met_and_says_what_verified() -> None:
    policy = SignerPolicy(("a",), require_signature=False)
    assert policy.evaluate([]).satisfied
    assert "verified by a" in policy.evaluate(["a"]).reason


def _locate(entity: object) -> str:
    return {TrustedKey: "signing.keys[0]", TrustedIdentity: "signing.identities[0]"}[type(entity)]


@pytest.mark.parametrize(
    ("trust", "tiers", "expected"),
    [
        (
            SigningTrust(keys=(TrustedKey("Bad Name", "pem"),)),
            {},
            [("signing.keys[0].name", "not a valid signer")],
        ),
        (
            SigningTrust(
                keys=(TrustedKey("k", "pem"),), identities=(TrustedIdentity("k", "https://i", ".*"),)
            ),
            {},
            [("signing.identities[0].name", "signer k is defined more than once")],
        ),
        (
            SigningTrust(keys=(TrustedKey("release", "pem"),)),
            {"production": ("relase",)},
            [
                (
                    "tiers.production.signers[0]",
                    "signer relase is not defined under signing (did you mean release?)",
                )
            ],
        ),
    ],
)
def test_signing_problems_name_their_path(
    trust: SigningTrust, tiers: dict[str, tuple[str, ...]], expected: list[tuple[str, str]]
) -> None:
    problems = signing_problems(trust, tiers, locate=_locate)
    assert [(p, m) for p, m in problems for _, want in expected if want in m] == problems
    assert [p for p, _ in problems] == [p for p, _ in expected]


def test_unusable_signers_are_not_reported_again() -> None:
    assert (
        signing_problems(
            SigningTrust(), {"production": ("broken",)}, locate=_locate, unchecked=frozenset({"broken"})
        )
        == []
    )


def test_the_fingerprint_changes_with_the_trust_a_verdict_depends_on() -> None:
    one = SigningTrust(keys=(TrustedKey("a", "pem-a"), TrustedKey("b", "pem-b")))
    other_key = SigningTrust(keys=(TrustedKey("a", "pem-a2"), TrustedKey("b", "pem-b")))
    assert one.fingerprint(("a",)) != other_key.fingerprint(("a",))
    # A change to a signer the tier does not use leaves the tier's fingerprint alone.
    assert one.fingerprint(("b",)) == other_key.fingerprint(("b",))
