"""Every Notation vector (tests/vectors/signing/notation, see PROVENANCE.md), verified offline with
the trust stores and trust policies notation's own tests use: what must verify verifies, what must
fail fails, with the validation that failed in the reason."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from harbourmaster.signing.interface import KeyFormatError
from harbourmaster.signing.notation import COSE, JWS, check_notation_signature
from harbourmaster.signing.notation_policy import (
    NotationTrustPolicy,
    NotationTrustStore,
    load_trust_store,
    parse_trust_policy,
    parse_trusted_dn,
    select_policy,
)
from harbourmaster.signing.verify import SignatureCheck
from tests.signing._oci_layout import read_layout_signature
from tests.signing._vectors import NOTATION

NOW = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
E2E = NOTATION / "e2e"
GO = NOTATION / "notation-go"
E2E_REPOSITORY = "localhost:5000/e2e"
GO_REPOSITORY = "registry.acme-rockets.io/software/net-monitor"
GO_DIGEST = "sha256:60043cf45eaebc4c0867fea485a039b598f52fd09fd5b07b0b2d2f88fad9d74e"
TARGET_DIGEST = "sha256:" + hashlib.sha256((GO / "target-manifest.json").read_bytes()).hexdigest()


def _e2e(case: str, *, policy: str = "trustpolicy", cert: str = "e2e") -> SignatureCheck:
    signature = read_layout_signature(E2E / "oci_layout" / f"e2e-{case}")
    store = load_trust_store(
        (E2E / "truststore" / f"{cert}.crt").read_bytes(), type="ca", name="e2e", source=f"{cert}.crt"
    )
    policies = parse_trust_policy((E2E / "trustpolicy" / f"{policy}.json").read_bytes(), source=policy)
    return check_notation_signature(
        signature.envelope,
        signature.media_type,
        repository=E2E_REPOSITORY,
        image_digest=signature.image_digest,
        policies=policies,
        stores=[store],
        now=NOW,
        location=signature.manifest_digest,
    )


def _go_stores() -> list[NotationTrustStore]:
    root = (GO / "NotationTestRoot.pem").read_bytes()
    return [
        load_trust_store(root, type=kind, name="valid-trust-store", source="NotationTestRoot.pem")
        for kind in ("ca", "signingAuthority")
    ]


def _go_policies() -> list[NotationTrustPolicy]:
    return parse_trust_policy((GO / "trust-policy.notation-go-tests.json").read_bytes(), source="go policy")


def _go(name: str, *, stores: list[NotationTrustStore] | None = None) -> SignatureCheck:
    return check_notation_signature(
        (GO / name).read_bytes(),
        JWS,
        repository=GO_REPOSITORY,
        image_digest=GO_DIGEST,
        policies=_go_policies(),
        stores=_go_stores() if stores is None else stores,
        now=NOW,
        location=name,
    )


def _alpine(envelope: str, media_type: str, digest: str) -> SignatureCheck:
    policies = parse_trust_policy(
        json.dumps(
            {
                "version": "1.0",
                "trustPolicies": [
                    {
                        "name": "alpine",
                        "registryScopes": ["*"],
                        "signatureVerification": {"level": "strict"},
                        "trustStores": ["ca:alpine"],
                        "trustedIdentities": ["*"],
                    }
                ],
            }
        ).encode(),
        source="alpine policy",
    )
    store = load_trust_store((GO / "alpine.crt").read_bytes(), type="ca", name="alpine", source="alpine.crt")
    return check_notation_signature(
        (GO / envelope).read_bytes(),
        media_type,
        repository="example.test/alpine",
        image_digest=digest,
        policies=policies,
        stores=[store],
        now=NOW,
        location=envelope,
    )


def _fails(check: SignatureCheck, validation: str, text: str = "") -> None:
    assert not check.verified, check.reason
    assert check.reason.startswith(f"{validation} validation failed"), check.reason
    assert text in check.reason


# --- notation e2e OCI layouts -------------------------------------------------------------------------


def test_layout_signature_refers_to_the_tagged_image() -> None:
    for case in ("valid-signature", "invalid-signature", "expired-signature", "with-expired-cert"):
        signature = read_layout_signature(E2E / "oci_layout" / f"e2e-{case}")
        assert signature.image_digest.startswith("sha256:b8479de3f88f")


@pytest.mark.parametrize("policy", ["trustpolicy", "valid_trusted_identity_trustpolicy"])
def test_valid_signature_verifies(policy: str) -> None:
    check = _e2e("valid-signature", policy=policy)
    assert check.verified, check.reason
    assert check.form == "notation"
    assert check.signer == "e2e"
    assert "ca:e2e" in check.reason
    assert "revocation not checked" in check.reason
    assert check.annotations["x509.subject"] == "CN=e2e,O=Notary,L=Seattle,ST=WA,C=US"


def test_valid_signature_fails_an_untrusted_identity() -> None:
    _fails(
        _e2e("valid-signature", policy="invalid_trusted_identity_trustpolicy"),
        "authenticity",
        "does not match the trusted identities",
    )


def test_same_key_in_another_certificate_is_not_trusted() -> None:
    # new_e2e.crt holds e2e.crt's public key under another DN: anchors are certificates, not keys.
    _fails(_e2e("valid-signature", cert="new_e2e"), "authenticity", "no certificate of the policy's ca")


def test_invalid_signature_fails_integrity() -> None:
    for policy in ("trustpolicy", "permissive_trustpolicy", "audit_trustpolicy"):
        _fails(_e2e("invalid-signature", policy=policy), "integrity", "not a Notation envelope")


def test_invalid_signature_bytes_fail_integrity_as_jws_too() -> None:
    signature = read_layout_signature(E2E / "oci_layout" / "e2e-invalid-signature")
    policies = parse_trust_policy((E2E / "trustpolicy" / "trustpolicy.json").read_bytes(), source="p")
    store = load_trust_store((E2E / "truststore" / "e2e.crt").read_bytes(), type="ca", name="e2e", source="c")
    check = check_notation_signature(
        signature.envelope,
        JWS,
        repository=E2E_REPOSITORY,
        image_digest=signature.image_digest,
        policies=policies,
        stores=[store],
        now=NOW,
        location="x",
    )
    _fails(check, "integrity", "not JSON")


def test_expired_signature_fails_strict() -> None:
    _fails(_e2e("expired-signature"), "expiry", "expired on 2023-06-27T13:21:21+08:00")


def test_expired_signature_verifies_permissive_with_the_expiry_noted() -> None:
    check = _e2e("expired-signature", policy="permissive_trustpolicy")
    assert check.verified, check.reason
    assert "logged: expiry was set to log and failed: the signature expired" in check.reason


def test_expired_certificate_fails_strict() -> None:
    _fails(
        _e2e("with-expired-cert", cert="expired_e2e"),
        "authenticTimestamp",
        "valid 2023-06-26T06:10:00Z to 2023-06-27T06:10:00Z",
    )


def test_expired_certificate_verifies_permissive_with_a_warning() -> None:
    check = _e2e("with-expired-cert", policy="permissive_trustpolicy", cert="expired_e2e")
    assert check.verified, check.reason
    assert "logged: authenticTimestamp was set to log and failed" in check.reason


def test_expired_certificate_is_not_trusted_by_e2e_crt() -> None:
    _fails(_e2e("with-expired-cert"), "authenticity")


CASES = ["valid-signature", "invalid-signature", "expired-signature", "with-expired-cert"]


@pytest.mark.parametrize("case", CASES)
def test_skip_policy_never_verifies(case: str) -> None:
    check = _e2e(case, policy="skip_trustpolicy")
    assert not check.verified
    assert check.reason.startswith("trust policy e2e skips verification")


def test_audit_logs_expiry_but_never_counts_an_untrusted_signature() -> None:
    assert _e2e("valid-signature", policy="audit_trustpolicy").verified
    expired = _e2e("expired-signature", policy="audit_trustpolicy")
    assert expired.verified and "logged: expiry" in expired.reason
    # Notation's audit level only logs a failed authenticity check; harbourmaster fails closed.
    untrusted = _e2e("valid-signature", policy="audit_trustpolicy", cert="new_e2e")
    assert not untrusted.verified and "authenticity not established" in untrusted.reason
    assert "logged: authenticity was set to log" in untrusted.reason
    _fails(_e2e("invalid-signature", policy="audit_trustpolicy"), "integrity")


def test_a_trusted_identity_matches_when_its_attributes_are_a_subset_of_the_subject(tmp_path: Path) -> None:
    document = json.loads((E2E / "trustpolicy" / "valid_trusted_identity_trustpolicy.json").read_text())
    document["trustPolicies"][0]["trustedIdentities"] = ["x509.subject: C=US, ST=WA, O=Notary"]
    (tmp_path / "subset.json").write_text(json.dumps(document))
    signature = read_layout_signature(E2E / "oci_layout" / "e2e-valid-signature")
    store = load_trust_store((E2E / "truststore" / "e2e.crt").read_bytes(), type="ca", name="e2e", source="c")
    check = check_notation_signature(
        signature.envelope,
        signature.media_type,
        repository=E2E_REPOSITORY,
        image_digest=signature.image_digest,
        policies=parse_trust_policy((tmp_path / "subset.json").read_bytes(), source="subset"),
        stores=[store],
        now=NOW,
        location="x",
    )
    assert check.verified, check.reason
    document["trustPolicies"][0]["trustedIdentities"] = ["x509.subject: C=US, ST=WA, O=Notary, OU=Other"]
    (tmp_path / "superset.json").write_text(json.dumps(document))
    check = check_notation_signature(
        signature.envelope,
        signature.media_type,
        repository=E2E_REPOSITORY,
        image_digest=signature.image_digest,
        policies=parse_trust_policy((tmp_path / "superset.json").read_bytes(), source="superset"),
        stores=[store],
        now=NOW,
        location="x",
    )
    _fails(check, "authenticity", "does not match the trusted identities")


def test_signature_copied_to_another_image_fails() -> None:
    signature = read_layout_signature(E2E / "oci_layout" / "e2e-valid-signature")
    policies = parse_trust_policy((E2E / "trustpolicy" / "trustpolicy.json").read_bytes(), source="p")
    store = load_trust_store((E2E / "truststore" / "e2e.crt").read_bytes(), type="ca", name="e2e", source="c")
    check = check_notation_signature(
        signature.envelope,
        JWS,
        repository=E2E_REPOSITORY,
        image_digest="sha256:" + "0" * 64,
        policies=policies,
        stores=[store],
        now=NOW,
        location="x",
    )
    _fails(check, "integrity", "copied from another image")


# --- notation-go envelopes ----------------------------------------------------------------------------


def test_ca_valid_verifies() -> None:
    check = _go("ca_valid_sig_env.json")
    assert check.verified, check.reason
    assert check.signer == "test-statement-name"
    assert "ca:valid-trust-store" in check.reason


def test_ca_valid_fails_without_its_root() -> None:
    e2e = load_trust_store(
        (E2E / "truststore" / "e2e.crt").read_bytes(), type="ca", name="valid-trust-store", source="e2e.crt"
    )
    _fails(_go("ca_valid_sig_env.json", stores=[e2e, _go_stores()[1]]), "authenticity")


def test_ca_invalid_fails_integrity() -> None:
    _fails(_go("ca_invalid_sig_env.json"), "integrity", "does not verify")


def test_ca_expired_fails_strict() -> None:
    _fails(_go("ca_expired_sig_env.json"), "expiry", "2022-07-29T23:59:00+00:00")


def test_sa_valid_verifies_with_the_signing_authority_store() -> None:
    check = _go("sa_valid_sig_env.json")
    assert check.verified, check.reason
    assert "signingAuthority:valid-trust-store" in check.reason


def test_sa_valid_is_not_anchored_by_a_ca_store() -> None:
    other = load_trust_store(
        (E2E / "truststore" / "e2e.crt").read_bytes(),
        type="signingAuthority",
        name="valid-trust-store",
        source="e2e.crt",
    )
    ca_only = [*_go_stores()[:1], other]
    _fails(_go("sa_valid_sig_env.json", stores=ca_only), "authenticity", "signingAuthority trust stores")


def test_jws_signature_verifies_for_its_target_manifest() -> None:
    check = _alpine("jws_signature.sig", JWS, TARGET_DIGEST)
    assert TARGET_DIGEST == "sha256:19dbd2e48e921426ee8ace4dc892edfb2ecdc1d1a72d5416c83670c30acecef0"
    assert check.verified, check.reason


def test_jws_signature_fails_for_another_digest() -> None:
    _fails(_alpine("jws_signature.sig", JWS, GO_DIGEST), "integrity", "copied from another image")


def test_cose_is_refused() -> None:
    check = _alpine("cose_signature.sig", COSE, TARGET_DIGEST)
    assert not check.verified
    assert check.reason == "COSE Notation envelopes are not supported yet; refused"


def test_no_policy_for_the_repository_fails() -> None:
    check = check_notation_signature(
        (GO / "ca_valid_sig_env.json").read_bytes(),
        JWS,
        repository="other.example/app",
        image_digest=GO_DIGEST,
        policies=_go_policies(),
        stores=_go_stores(),
        now=NOW,
        location="x",
    )
    assert not check.verified and "no Notation trust policy covers other.example/app" in check.reason


def test_a_missing_trust_store_is_a_configuration_error() -> None:
    with pytest.raises(KeyFormatError, match="ca:valid-trust-store"):
        _go("ca_valid_sig_env.json", stores=_go_stores()[1:])


GARBAGE = [b"", b"{", b"[]", b'{"payload": 1}', b"\xff" * 10, b"x" * (1024 * 1024 + 1)]


@pytest.mark.parametrize("garbage", GARBAGE)
def test_garbage_envelopes_fail_integrity(garbage: bytes) -> None:
    check = check_notation_signature(
        garbage,
        JWS,
        repository=GO_REPOSITORY,
        image_digest=GO_DIGEST,
        policies=_go_policies(),
        stores=_go_stores(),
        now=NOW,
        location="x",
    )
    _fails(check, "integrity")


# --- trust policies and trust stores ------------------------------------------------------------------


def _document(**policy: object) -> bytes:
    return json.dumps({"version": "1.0", "trustPolicies": [_entry(**policy)]}).encode()


def _entry(**policy: object) -> dict[str, object]:
    base: dict[str, object] = {
        "name": "p",
        "registryScopes": ["*"],
        "trustStores": ["ca:e2e"],
        "signatureVerification": {"level": "strict"},
        "trustedIdentities": ["*"],
    }
    return {**base, **policy}


def test_every_vector_policy_parses() -> None:
    for path in [*sorted((E2E / "trustpolicy").glob("*.json")), GO / "trust-policy.notation-go-tests.json"]:
        (policy,) = parse_trust_policy(path.read_bytes(), source=path.name)
        assert policy.level in ("strict", "permissive", "audit", "skip")


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b'{"version": "2.0", "trustPolicies": []}', "version"),
        (
            json.dumps(
                {"version": "1.0", "trustPolicies": [_entry(), _entry(registryScopes=["r.example/a"])]}
            ).encode(),
            "used twice",
        ),
        (_document(signatureVerification={"level": "lenient"}), "signatureVerification.level"),
        (_document(trustStores=["e2e"]), "trustStores 'e2e'"),
        (_document(trustStores=["root:e2e"]), "trustStores 'root:e2e'"),
        (_document(trustedIdentities=["CN=e2e,O=Notary,ST=WA,C=US"]), "trustedIdentities"),
        (_document(trustedIdentities=["x509.subject: CN=e2e"]), "mandatory attributes C, O, ST"),
        (_document(trustedIdentities=["*", "x509.subject: C=US,ST=WA,O=N"]), "'*' must be the only identity"),
        (_document(registryScopes=["*", "r.example/a"]), "'*' must be the only scope"),
        (_document(registryScopes=["not a repository"]), "registryScopes"),
        (_document(signatureVerification={"level": "strict", "override": {"integrity": "log"}}), "integrity"),
        (
            _document(signatureVerification={"level": "strict", "override": {"authenticity": "skip"}}),
            "skipped",
        ),
        (_document(signatureVerification={"level": "skip"}), "skip-level policy must not name"),
        (b"not json", "not JSON"),
    ],
)
def test_bad_policies_are_refused(data: bytes, named: str) -> None:
    with pytest.raises(KeyFormatError) as caught:
        parse_trust_policy(data, source="policy.json")
    assert named in caught.value.message
    assert caught.value.message.startswith("policy.json")


def test_override_logs_expiry_under_strict() -> None:
    strict_but_log_expiry = {"level": "strict", "override": {"expiry": "log"}}
    (policy,) = parse_trust_policy(_document(signatureVerification=strict_but_log_expiry), source="p")
    assert policy.action("expiry") == "log" and policy.action("authenticity") == "enforce"
    store = load_trust_store((E2E / "truststore" / "e2e.crt").read_bytes(), type="ca", name="e2e", source="c")
    signature = read_layout_signature(E2E / "oci_layout" / "e2e-expired-signature")
    check = check_notation_signature(
        signature.envelope,
        JWS,
        repository=E2E_REPOSITORY,
        image_digest=signature.image_digest,
        policies=[policy],
        stores=[store],
        now=NOW,
        location="x",
    )
    assert check.verified and "logged: expiry" in check.reason


def test_exact_scope_wins_over_the_wildcard() -> None:
    policies = parse_trust_policy(
        json.dumps(
            {
                "version": "1.0",
                "trustPolicies": [
                    _entry(name="any"),
                    _entry(name="app", registryScopes=["registry.example/team/app"]),
                ],
            }
        ).encode(),
        source="p",
    )
    assert select_policy(policies, "registry.example/team/app").name == "app"  # type: ignore[union-attr]
    assert select_policy(policies, "registry.example/team/other").name == "any"  # type: ignore[union-attr]
    assert select_policy(policies[1:], "registry.example/team/other") is None


def test_dn_escapes_follow_rfc_4514() -> None:
    parsed = parse_trusted_dn(r"CN=a\,b\2Bc,O=Acme\, Inc.,ST=WA,C=US", where="w")
    assert ("CN", "a,b+c") in parsed and ("O", "Acme, Inc.") in parsed
    assert parse_trusted_dn("C=US,ST=WA,O=N", where="w") == parse_trusted_dn("O=N,C=US,ST=WA", where="w")


def test_bad_pem_names_its_source() -> None:
    bad = b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"
    with pytest.raises(KeyFormatError, match=r"broken\.pem"):
        load_trust_store(bad, type="ca", name="x", source="broken.pem")
    with pytest.raises(KeyFormatError, match="trust store type"):
        load_trust_store((GO / "alpine.crt").read_bytes(), type="root", name="x", source="alpine.crt")


def test_bundled_pem_holds_every_certificate() -> None:
    pem = (E2E / "truststore" / "e2e.crt").read_bytes() + (GO / "NotationTestRoot.pem").read_bytes()
    assert len(load_trust_store(pem, type="ca", name="two", source="two.pem").certificates) == 2
