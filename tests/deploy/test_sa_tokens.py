"""A pod's bound service-account token is verified offline against its cluster's JWKS, and every
way it can be wrong is refused with its own error, whose message never contains the token."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harbourmaster.deploy.kubernetes import sa_tokens
from harbourmaster.deploy.kubernetes.sa_tokens import (
    AlgorithmRefusedError,
    AudienceMismatchError,
    BoundServiceAccountToken,
    IssuerKeys,
    IssuerMismatchError,
    JwksError,
    MalformedTokenError,
    NotPodBoundError,
    ServiceAccountTokenError,
    SignatureError,
    TokenExpiredError,
    TokenNotYetValidError,
    UnknownKeyError,
    verify_service_account_token,
)
from harbourmaster.errors import BadInput, Unauthenticated
from tests.deploy._sa_tokens import (
    ISSUER,
    NOW,
    SigningKey,
    b64url,
    bound_claims,
    hmac_signed,
    issue,
    jwks,
    unsigned,
)

NOW_DT = dt.datetime.fromtimestamp(NOW, dt.UTC)


@pytest.fixture(scope="module")
def rsa_key() -> SigningKey:
    return SigningKey.rsa()


@pytest.fixture(scope="module")
def ec_key() -> SigningKey:
    return SigningKey.ec()


@pytest.fixture(scope="module")
def keys(rsa_key: SigningKey, ec_key: SigningKey) -> IssuerKeys:
    return IssuerKeys.from_jwks(json.dumps(jwks(rsa_key, ec_key)).encode())


def verify(token: str, keys: IssuerKeys, **kwargs: Any) -> BoundServiceAccountToken:
    kwargs.setdefault("issuer", ISSUER)
    kwargs.setdefault("now", NOW_DT)
    return verify_service_account_token(token, keys=keys, **kwargs)


def refused(
    error: type[ServiceAccountTokenError], token: str, keys: IssuerKeys, match: str, **kwargs: Any
) -> ServiceAccountTokenError:
    with pytest.raises(error, match=match) as info:
        verify(token, keys, **kwargs)
    # The token is a bearer credential: no message carries it, nor its signature.
    assert token not in info.value.diagnostics()
    assert token.rsplit(".", 1)[-1] not in info.value.diagnostics() or not token.rsplit(".", 1)[-1]
    assert isinstance(info.value, Unauthenticated)
    return info.value


# --- what a good token gives ------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512"])
def test_rsa_bound_token_gives_pod_service_account_and_namespace(alg: str) -> None:
    key = SigningKey.rsa(alg)
    identity = verify(issue(key, bound_claims()), IssuerKeys.from_jwks(jwks(key)))
    assert identity == BoundServiceAccountToken(
        issuer=ISSUER,
        subject="system:serviceaccount:payments:api",
        namespace="payments",
        service_account_name="api",
        service_account_uid="a087d5a0-e1dd-43ec-93ac-f13d89cd13af",
        pod_name="api-7d9c6b5f4-x2x8k",
        pod_uid="778a530c-b3f4-47c0-9cd5-ab018fb64f33",
        node_name="worker-3",
        node_uid="58456cb0-dd00-45ed-b797-5578fdceaced",
        token_id="2c9f0a8e-4b7e-4d7e-9b0e-0f6d3b1b8e11",
        issued_at=NOW_DT - dt.timedelta(seconds=30),
        expires_at=NOW_DT + dt.timedelta(seconds=3570),
    )


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
def test_ec_bound_token_verifies(alg: str) -> None:
    key = SigningKey.ec(alg)
    assert (
        verify(issue(key, bound_claims()), IssuerKeys.from_jwks(jwks(key))).pod_name == "api-7d9c6b5f4-x2x8k"
    )


def test_key_is_chosen_by_kid_among_several(
    rsa_key: SigningKey, ec_key: SigningKey, keys: IssuerKeys
) -> None:
    assert verify(issue(rsa_key, bound_claims()), keys).namespace == "payments"
    assert verify(issue(ec_key, bound_claims(namespace="shop")), keys).namespace == "shop"


def test_token_without_kid_is_accepted_when_the_issuer_has_one_key(rsa_key: SigningKey) -> None:
    one = IssuerKeys.from_jwks(jwks(rsa_key))
    assert verify(issue(rsa_key, bound_claims(), kid=False), one).service_account_name == "api"


def test_audience_may_be_a_string_or_one_of_several(rsa_key: SigningKey, keys: IssuerKeys) -> None:
    assert verify(issue(rsa_key, bound_claims(audience="harbourmaster")), keys)
    assert verify(
        issue(rsa_key, bound_claims(audience=["https://kubernetes.default.svc", "harbourmaster"])), keys
    )


def test_jwks_without_alg_and_use_is_accepted(rsa_key: SigningKey) -> None:
    bare = {k: v for k, v in rsa_key.jwk().items() if k not in ("alg", "use")}
    assert verify(issue(rsa_key, bound_claims()), IssuerKeys.from_jwks({"keys": [bare]}))


def test_clock_skew_within_the_leeway_is_tolerated(rsa_key: SigningKey, keys: IssuerKeys) -> None:
    # Issued 30 s "in the future" by a node clock ahead of ours; expired 30 s ago.
    assert verify(issue(rsa_key, bound_claims(iat=NOW + 30)), keys)
    assert verify(issue(rsa_key, bound_claims(iat=NOW - 3630)), keys)


# --- refusals ------------------------------------------------------------------------------------


def test_expired_token_is_refused(rsa_key: SigningKey, keys: IssuerKeys) -> None:
    token = issue(rsa_key, bound_claims(iat=NOW - 3700))
    refused(TokenExpiredError, token, keys, "expired at 2026-")
    # ... and accepted with a larger leeway, when the caller asks for it.
    assert verify(token, keys, leeway=dt.timedelta(minutes=5))


def test_token_not_yet_valid_is_refused(rsa_key: SigningKey, keys: IssuerKeys) -> None:
    claims = bound_claims()
    claims["nbf"] = NOW + 600
    refused(TokenNotYetValidError, issue(rsa_key, claims), keys, r"not valid before .*\(nbf\)")


def test_token_issued_in_the_future_is_refused(rsa_key: SigningKey, keys: IssuerKeys) -> None:
    claims = bound_claims(iat=NOW + 600)
    del claims["nbf"]
    refused(TokenNotYetValidError, issue(rsa_key, claims), keys, r"issued in the future.*\(iat\)")


@pytest.mark.parametrize("claim", ["exp", "iat"])
@pytest.mark.parametrize("value", [None, "1790000000", True, 1e400])
def test_missing_or_malformed_time_claims_are_refused(
    rsa_key: SigningKey, keys: IssuerKeys, claim: str, value: Any
) -> None:
    claims = bound_claims()
    if value is None:
        del claims[claim]
    else:
        claims[claim] = value
    refused(
        MalformedTokenError, issue(rsa_key, claims), keys, f"{claim} claim is missing or not a NumericDate"
    )


def test_wrong_issuer_is_refused(rsa_key: SigningKey, keys: IssuerKeys) -> None:
    token = issue(rsa_key, bound_claims(issuer="https://other-cluster.example"))
    refused(IssuerMismatchError, token, keys, "'https://other-cluster.example' is not the cluster's issuer")


@pytest.mark.parametrize("audience", [["https://kubernetes.default.svc"], "harbourmaster-evil", [], 7])
def test_wrong_audience_is_refused(rsa_key: SigningKey, keys: IssuerKeys, audience: Any) -> None:
    claims = bound_claims(audience=audience)
    refused(AudienceMismatchError, issue(rsa_key, claims), keys, "does not contain 'harbourmaster'")


def test_missing_audience_is_refused(rsa_key: SigningKey, keys: IssuerKeys) -> None:
    claims = bound_claims()
    del claims["aud"]
    refused(AudienceMismatchError, issue(rsa_key, claims), keys, "audience None")


def test_signature_by_another_key_with_the_same_kid_is_refused(rsa_key: SigningKey, keys: IssuerKeys) -> None:
    impostor = SigningKey.rsa()
    token = issue(impostor, bound_claims(), header={"kid": rsa_key.kid})
    refused(SignatureError, token, keys, "signature does not verify")


def test_edited_claims_are_refused(rsa_key: SigningKey, keys: IssuerKeys) -> None:
    head, _, signature = issue(rsa_key, bound_claims()).split(".")
    forged = bound_claims(namespace="kube-system")
    token = f"{head}.{b64url(json.dumps(forged).encode())}.{signature}"
    refused(SignatureError, token, keys, "signature does not verify")


def test_unknown_kid_is_refused(keys: IssuerKeys) -> None:
    stranger = SigningKey.rsa()
    refused(UnknownKeyError, issue(stranger, bound_claims()), keys, "not among the issuer's keys")


def test_missing_kid_with_several_keys_is_refused(rsa_key: SigningKey, keys: IssuerKeys) -> None:
    refused(UnknownKeyError, issue(rsa_key, bound_claims(), kid=False), keys, "no kid.*2 keys")


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "HS256", "HS384", "HS512", "PS256", "EdDSA", ""])
def test_none_and_symmetric_algorithms_are_refused(rsa_key: SigningKey, keys: IssuerKeys, alg: str) -> None:
    refused(AlgorithmRefusedError, unsigned(bound_claims(), alg=alg, kid=rsa_key.kid), keys, "is refused")


def test_hmac_keyed_with_the_public_key_is_refused(rsa_key: SigningKey, keys: IssuerKeys) -> None:
    pem = rsa_key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    refused(AlgorithmRefusedError, hmac_signed(bound_claims(), pem, kid=rsa_key.kid), keys, "HS256")


def test_algorithm_not_fitting_the_key_is_refused(
    rsa_key: SigningKey, ec_key: SigningKey, keys: IssuerKeys
) -> None:
    # An RSA key named by kid, an ES256 header: refused before the signature is looked at.
    token = issue(ec_key, bound_claims(), header={"kid": rsa_key.kid})
    refused(AlgorithmRefusedError, token, keys, "does not fit the issuer's key")
    # An EC P-256 key, an ES384 header.
    p384 = SigningKey.ec("ES384")
    refused(AlgorithmRefusedError, issue(p384, bound_claims(), header={"kid": ec_key.kid}), keys, "P-256")


def test_algorithm_other_than_the_jwk_alg_is_refused(rsa_key: SigningKey) -> None:
    pinned = IssuerKeys.from_jwks({"keys": [rsa_key.jwk(alg="RS512")]})
    refused(AlgorithmRefusedError, issue(rsa_key, bound_claims()), pinned, "not the algorithm 'RS512'")


def test_critical_header_is_refused(rsa_key: SigningKey, keys: IssuerKeys) -> None:
    token = issue(rsa_key, bound_claims(), header={"crit": ["exp"]})
    refused(MalformedTokenError, token, keys, "crit")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "!!!.e30.",
        "e30.e30.",
        "x" * 20_000,
        "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln",
    ],
)
def test_malformed_tokens_are_refused(keys: IssuerKeys, token: str) -> None:
    with pytest.raises(ServiceAccountTokenError) as info:
        verify(token, keys)
    assert isinstance(info.value, MalformedTokenError | AlgorithmRefusedError | UnknownKeyError)
    if len(token) > 3:
        assert token not in info.value.message


def test_claims_that_are_not_json_are_refused(rsa_key: SigningKey) -> None:
    head = b64url(json.dumps({"alg": "RS256", "kid": rsa_key.kid}).encode())
    signing_input = f"{head}.{b64url(b'not json')}".encode()
    token = f"{signing_input.decode()}.{b64url(rsa_key.sign(signing_input))}"
    refused(MalformedTokenError, token, IssuerKeys.from_jwks(jwks(rsa_key)), "not a base64url JSON object")


def _without(path: str) -> dict[str, Any]:
    claims = bound_claims()
    *parents, leaf = path.split(".")
    node = claims["kubernetes.io"]
    for part in parents:
        node = node[part]
    del node[leaf]
    return claims


@pytest.mark.parametrize(
    ("path", "match"),
    [
        ("pod", "not bound to a pod"),
        ("namespace", "kubernetes.io.namespace claim is missing"),
        ("serviceaccount", "no kubernetes.io.serviceaccount claim"),
        ("serviceaccount.name", "kubernetes.io.serviceaccount.name claim is missing"),
        ("serviceaccount.uid", "kubernetes.io.serviceaccount.uid claim is missing"),
        ("pod.name", "kubernetes.io.pod.name claim is missing"),
        ("pod.uid", "kubernetes.io.pod.uid claim is missing"),
    ],
)
def test_incomplete_kubernetes_claims_are_refused(
    rsa_key: SigningKey, keys: IssuerKeys, path: str, match: str
) -> None:
    refused(NotPodBoundError, issue(rsa_key, _without(path)), keys, match)


def test_secret_bound_legacy_shape_is_refused(rsa_key: SigningKey, keys: IssuerKeys) -> None:
    claims = _without("pod")
    claims["kubernetes.io"]["secret"] = {
        "name": "api-token-abcde",
        "uid": "0d4691ed-659b-4935-a832-355f77ee47cc",
    }
    refused(NotPodBoundError, issue(rsa_key, claims), keys, "not bound to a pod")


def test_no_kubernetes_claims_is_refused(rsa_key: SigningKey, keys: IssuerKeys) -> None:
    claims = bound_claims()
    del claims["kubernetes.io"]
    refused(NotPodBoundError, issue(rsa_key, claims), keys, 'no "kubernetes.io" claims')


def test_subject_naming_another_service_account_is_refused(rsa_key: SigningKey, keys: IssuerKeys) -> None:
    claims = bound_claims()
    claims["sub"] = "system:serviceaccount:kube-system:admin"
    refused(NotPodBoundError, issue(rsa_key, claims), keys, "is not 'system:serviceaccount:payments:api'")


def test_node_claim_is_optional(rsa_key: SigningKey, keys: IssuerKeys) -> None:
    identity = verify(issue(rsa_key, _without("node")), keys)
    assert identity.node_name is None and identity.node_uid is None


def test_now_must_be_timezone_aware(rsa_key: SigningKey, keys: IssuerKeys) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        verify(issue(rsa_key, bound_claims()), keys, now=dt.datetime(2026, 9, 21))


def test_long_claim_values_are_cut_short_in_messages(rsa_key: SigningKey, keys: IssuerKeys) -> None:
    error = refused(
        IssuerMismatchError, issue(rsa_key, bound_claims(issuer="https://" + "x" * 500)), keys, "issuer"
    )
    assert len(error.message) < 300


# --- the JWKS ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "match"),
    [
        (b"not json", "not JSON"),
        (b"[]", 'object with a "keys" list'),
        ({"keys": {}}, 'object with a "keys" list'),
        ({"keys": []}, "no RSA or EC signing key"),
        ({"keys": ["x"]}, 'keys\\[0\\] .* not a JWK with a "kty"'),
        ({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}, "no RSA or EC signing key"),
        ({"keys": [{"kty": "RSA", "kid": 7, "n": "AQAB", "e": "AQAB"}]}, "kid.*not a string"),
    ],
)
def test_unusable_jwks_is_refused(document: Any, match: str) -> None:
    with pytest.raises(JwksError, match=match) as info:
        IssuerKeys.from_jwks(document)
    assert isinstance(info.value, BadInput)


def test_duplicate_kids_are_refused(rsa_key: SigningKey) -> None:
    with pytest.raises(JwksError, match="two keys with kid"):
        IssuerKeys.from_jwks({"keys": [rsa_key.jwk(), rsa_key.jwk()]})


def test_encryption_keys_and_symmetric_keys_are_left_out(rsa_key: SigningKey) -> None:
    other = SigningKey.rsa()
    keys = IssuerKeys.from_jwks(
        {"keys": [other.jwk(use="enc"), {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}, rsa_key.jwk()]}
    )
    assert [key.kid for key in keys.keys] == [rsa_key.kid]
    refused(UnknownKeyError, issue(other, bound_claims()), keys, "not among")
    # With one usable key left, a token without kid is checked against it (and fails if not its).
    refused(SignatureError, issue(other, bound_claims(), kid=False), keys, "does not verify")


def test_broken_public_key_is_a_jwks_error(rsa_key: SigningKey) -> None:
    broken = {"keys": [{"kty": "EC", "crv": "P-256", "kid": "k", "x": "AAAA", "y": "AAAA"}]}
    ec_key = SigningKey.ec()
    with pytest.raises(JwksError, match="not a valid EC public key"):
        verify(issue(ec_key, bound_claims(), header={"kid": "k"}), IssuerKeys.from_jwks(broken))


def test_short_rsa_keys_are_refused() -> None:
    weak = SigningKey.rsa(bits=1024)
    with pytest.raises(JwksError, match="shorter than 2048 bits"):
        verify(issue(weak, bound_claims()), IssuerKeys.from_jwks(jwks(weak)))


def test_exported_members() -> None:
    public = {
        name
        for name, value in vars(sa_tokens).items()
        if not name.startswith("_")
        and getattr(value, "__module__", sa_tokens.__name__) == sa_tokens.__name__
        and not isinstance(value, type(sa_tokens))
    }
    assert set(sa_tokens.__all__) == public - {"annotations"}


@given(
    st.text(max_size=300)
    | st.lists(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEF0123456789-_", max_size=80), min_size=3, max_size=3
    ).map(".".join)
)
@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_text_is_verified_or_refused_with_a_token_error(keys: IssuerKeys, token: str) -> None:
    with pytest.raises(ServiceAccountTokenError):
        verify(token, keys)
