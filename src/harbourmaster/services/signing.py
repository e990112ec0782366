"""Sign and verify images in their registries, in cosign's formats (and Notation's, to verify).

An image is always signed by digest: a tag is resolved first, and the signature
names the digest it pointed to.  ``tag`` signatures are added to the image's
``sha256-<hex>.sig`` manifest beside the ones already there; ``bundle`` signatures
are sigstore bundles pushed as OCI 1.1 artifacts whose subject is the image.
Every signing is audited: who, which key (name and fingerprint), which digest.

Verification reads every signature of the image (the ``.sig`` manifest, bundle
artifacts and Notation artifacts, through the referrers API or the tag-schema
fallback), checks each against the trust (keys, keyless identities against the
trusted root, Notation trust policies) and evaluates the signer policy.  Verdicts
are cached per image digest, repository and trust fingerprint: a satisfied one until the
trust changes, any other for a minute (a signature may be added at any moment).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from harbourmaster.domain.authz import PERMISSIONS, Permission, Principal, require
from harbourmaster.domain.model import Registry, Role
from harbourmaster.domain.reference import ImageReference, parse_reference
from harbourmaster.domain.signers import SignersRequired
from harbourmaster.errors import Forbidden
from harbourmaster.registry import ClientOptions, Descriptor, Digest, RegistryClient
from harbourmaster.services.audit_failures import failure_audited
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.environment_access import authorise_environment
from harbourmaster.services.registry_endpoints import endpoint_for, provider_for, run_sync
from harbourmaster.services.registry_scope import approved_registry
from harbourmaster.services.signing_results import (
    ImageSignaturePublic,
    ImageVerificationPublic,
    SignatureCheckPublic,
)
from harbourmaster.services.signing_sources import KeySource, private_key
from harbourmaster.services.signing_trust import (
    PublicKeyFile,
    Trust,
    environment_trust,
    key_trust,
    negative_ttl,
    verification_cache_key,
)
from harbourmaster.signing.artifacts import push_bundle, read_artifacts
from harbourmaster.signing.bundle import BUNDLE_V03, build_image_bundle, check_key_bundle, parse_bundle
from harbourmaster.signing.interface import SignatureFormatError, SigningError
from harbourmaster.signing.keyless import check_keyless_bundle
from harbourmaster.signing.keys import fingerprint
from harbourmaster.signing.legacy_keyless import check_legacy_keyless
from harbourmaster.signing.notation import check_notation_signature, read_notation_signatures
from harbourmaster.signing.oci import append_tag_signature, read_tag_signatures, signature_tag
from harbourmaster.signing.payload import build_payload
from harbourmaster.signing.signatures import sign_bytes
from harbourmaster.signing.verify import SignatureCheck, check_tag_signature
from harbourmaster.store.values import CachedVerification

__all__ = ["SIGNATURE_FORMATS", "sign_image", "verify_image", "verify_with_trust"]

SIGNING_OPTIONS = ClientOptions(connect_timeout=10.0, read_timeout=60.0)
SIGNATURE_FORMATS = ("tag", "bundle")


def _target(hm: Harbourmaster, image: str) -> tuple[ImageReference, Registry]:
    ref = parse_reference(image)
    return ref, approved_registry(hm, ref)


def _client(hm: Harbourmaster, registry: Any, *, actor: str, purpose: str) -> RegistryClient:
    endpoint, development_only = endpoint_for(hm, registry, actor=actor, purpose=purpose)
    provider = provider_for(hm, registry, actor=actor, purpose=purpose)
    return hm.registry_clients.client(
        endpoint, provider=provider, options=SIGNING_OPTIONS, development_only=development_only
    )


async def _subject(client: RegistryClient, ref: Any) -> Descriptor:
    """The image manifest's descriptor (a tag resolved to its digest)."""
    head = await client.head_manifest(ref.path, ref.digest or ref.tag or "latest")
    if head.digest is None or head.media_type is None or head.size is None:
        fetched = await client.get_manifest(ref.path, ref.digest or ref.tag or "latest")
        return Descriptor(media_type=fetched.media_type, digest=fetched.digest, size=len(fetched.raw))
    return Descriptor(media_type=head.media_type, digest=Digest(ref.digest or head.digest), size=head.size)


def sign_image(
    hm: Harbourmaster,
    principal: Principal,
    image: str,
    *,
    key: KeySource,
    annotations: Mapping[str, str] | None = None,
    fmt: str = "tag",
) -> ImageSignaturePublic:
    """Sign ``image`` (resolved to its digest) in ``fmt`` (``tag`` or ``bundle``) and store the signature
    in its registry.  Audited as ``image.sign`` (failures too).

    Raises:
        Forbidden: ``principal`` may not sign.
        BadInput: an unknown format, or annotations with the bundle format.
        ImageNotInApprovedRegistry, ReferenceError: the image is not one harbourmaster may sign.
        KeyFormatError, KeyPasswordError, UnresolvedSecretError, NotFound: the key is not usable.
        NotFoundInRegistry: no such tag or digest.
        RegistryError: the registry failed or refused the push.
    """
    from harbourmaster.errors import BadInput

    require(principal, Permission.IMAGE_SIGN)
    if fmt not in SIGNATURE_FORMATS:
        raise BadInput(f"--format {fmt!r}: use one of {', '.join(SIGNATURE_FORMATS)}")
    if fmt == "bundle" and annotations:
        raise BadInput(
            "annotations are part of the tag format's payload; the bundle format signs an in-toto "
            "statement without them"
        )
    ref, registry = _target(hm, image)
    private, key_name = private_key(hm, key)
    key_fingerprint = fingerprint(private)
    actor = principal.audit_name
    details: dict[str, object] = {
        "registry": registry.name,
        "key": key_name,
        "key_fingerprint": key_fingerprint,
        "format": fmt,
    }

    async def push() -> tuple[Descriptor, str, str]:
        async with _client(hm, registry, actor=actor, purpose="image.sign") as client:
            subject = await _subject(client, ref)
            if fmt == "bundle":
                bundle = build_image_bundle(private, repository=ref.repository, image_digest=subject.digest)
                artifact = await push_bundle(
                    client, ref.path, bundle=bundle, subject=subject, created=hm.clock.now()
                )
                envelope = parse_bundle(bundle, source="bundle").dsse or {}
                return subject, str(envelope["signatures"][0]["sig"]), f"{ref.repository}@{artifact}"
            payload = build_payload(
                docker_reference=ref.repository, image_digest=subject.digest, annotations=annotations
            )
            signature = base64.b64encode(sign_bytes(private, payload)).decode()
            await append_tag_signature(
                client, ref.path, image_digest=subject.digest, payload=payload, signature_b64=signature
            )
            return subject, signature, f"{ref.repository}:{signature_tag(subject.digest)}"

    with failure_audited(hm, actor=actor, action="image.sign", target=ref.normalized, details=details):
        subject, signature, location = run_sync(push())
    details.update(digest=str(subject.digest), location=location)
    with hm.store.transaction() as tx:
        tx.signing.forget(str(subject.digest))
        tx.audit.append(actor=actor, action="image.sign", target=ref.normalized, details=details)
    return ImageSignaturePublic(
        image=ref.normalized,
        image_digest=str(subject.digest),
        format=fmt,
        key=key_name,
        key_fingerprint=key_fingerprint,
        signature=signature,
        location=location,
        annotations=dict(annotations or {}),
    )


def _bundle_check(content: bytes, trust: Trust, *, image_digest: str, location: str) -> SignatureCheck:
    try:
        bundle = parse_bundle(content, source=f"bundle {location}")
    except SigningError as exc:
        return SignatureCheck(form="bundle", location=location, verified=False, reason=exc.message)
    if bundle.keyless:
        if trust.root is None:
            return SignatureCheck(
                form="bundle",
                location=location,
                verified=False,
                reason=f"bundle {location} is keyless; no trusted identity (with a trusted root) applies",
            )
        return check_keyless_bundle(
            content, trust.root, trust.identities, image_digest=image_digest, location=location
        )
    return check_key_bundle(bundle, trust.keys, image_digest=image_digest, location=location)


def _unreadable(form: str, location: str, reason: str) -> SignatureCheck:
    return SignatureCheck(form=form, location=location, verified=False, reason=reason)


async def _tag_checks(client: RegistryClient, ref: Any, digest: str, trust: Trust) -> list[SignatureCheck]:
    try:
        found = await read_tag_signatures(client, ref.path, digest)
    except SignatureFormatError as exc:
        # What the registry holds is refused as a whole (too many layers, not a signature manifest):
        # a failed signature, not bad input from the caller.
        return [_unreadable("tag", signature_tag(digest), exc.message)]
    return [
        # A certificate annotation marks cosign's classic keyless form: identities, not keys, decide.
        check_legacy_keyless(
            s, trust.root, trust.identities, image_digest=digest, annotations=trust.annotations
        )
        if s.certificate
        else check_tag_signature(s, trust.keys, image_digest=digest, annotations=trust.annotations)
        for s in found
    ]


async def _bundle_checks(client: RegistryClient, ref: Any, digest: str, trust: Trust) -> list[SignatureCheck]:
    try:
        blobs = await read_artifacts(client, ref.path, digest, artifact_type=BUNDLE_V03)
    except SignatureFormatError as exc:
        return [_unreadable("bundle", f"referrers of {digest}", exc.message)]
    checks: list[SignatureCheck] = []
    for blob in blobs:
        if blob.content is None:
            checks.append(_unreadable("bundle", blob.artifact_digest, blob.problem or "unreadable"))
        elif trust.annotations:
            checks.append(
                _unreadable(
                    "bundle", blob.artifact_digest, "annotation constraints apply to tag signatures only"
                )
            )
        else:
            checks.append(
                _bundle_check(blob.content, trust, image_digest=digest, location=blob.artifact_digest)
            )
    return checks


async def _notation_checks(
    client: RegistryClient, ref: Any, digest: str, trust: Trust, now: Any
) -> list[SignatureCheck]:
    if not trust.notation_policies:
        return []
    try:
        blobs = await read_notation_signatures(client, ref.path, digest)
    except SignatureFormatError as exc:
        return [_unreadable("notation", f"referrers of {digest}", exc.message)]
    return [
        _unreadable("notation", blob.artifact_digest, blob.problem or "unreadable")
        if blob.content is None
        else check_notation_signature(
            blob.content,
            blob.media_type,
            repository=ref.repository,
            image_digest=digest,
            policies=trust.notation_policies,
            stores=trust.notation_stores,
            now=now,
            location=blob.artifact_digest,
        )
        for blob in blobs
    ]


async def _checks(
    client: RegistryClient, ref: Any, digest: str, trust: Trust, now: Any
) -> list[SignatureCheck]:
    """Every signature of the image, each with its verdict: the ``.sig`` manifest, bundle artifacts, and
    (when the trust has Notation policies) Notation artifacts."""
    return [
        *await _tag_checks(client, ref, digest, trust),
        *await _bundle_checks(client, ref, digest, trust),
        *await _notation_checks(client, ref, digest, trust, now),
    ]


def _authorise(hm: Harbourmaster, principal: Principal, environment: str | None) -> None:
    if environment is not None:
        require(principal, Permission.SIGNATURE_VERIFY)
        if principal.role is Role.TEAM_MEMBER:
            authorise_environment(hm, principal, environment)
        return
    if principal.role is Role.TEAM_MEMBER:
        raise Forbidden(
            f"{principal.name} (team-member) verifies against an environment's policy: give an environment"
        )
    # Named keys: the registry's stored credential is used for any image in it (as registry browse).
    require(principal, Permission.REGISTRY_PROBE)


def _require_granted(hm: Harbourmaster, registry: str, environment: str) -> None:
    """A caller who may not use registry credentials at large verifies only images of a registry
    granted on the environment (as its decisions and ``resolve`` see them).

    Raises:
        Forbidden: no grant of the environment names the registry.
    """
    snapshot = hm.snapshot()
    grants = (*snapshot.namespace_grants.items(), *snapshot.user_grants.items())
    if not any(env == environment and registry in registries for (env, _), registries in grants):
        raise Forbidden(
            f"registry {registry} is not granted on environment {environment}: its images are "
            "verified there only by registry operators"
        )


def verify_image(
    hm: Harbourmaster,
    principal: Principal,
    image: str,
    *,
    environment: str | None = None,
    keys: tuple[PublicKeyFile, ...] = (),
    vault_keys: tuple[str, ...] = (),
    annotations: Mapping[str, str] | None = None,
    required: SignersRequired = SignersRequired.ANY,
    use_cache: bool = True,
) -> ImageVerificationPublic:
    """Every signature of ``image`` with its verdict, and whether the signer policy is met: the
    environment's tier policy (``environment``), or ``required`` of the keys given.

    Raises:
        Forbidden: ``principal`` may not verify there (a team member needs access to the environment;
            without the registry-probe permission the image's registry must be granted on it).
        BadInput: no key and no environment given.
        NotFound: no such environment or vault key.
        ImageNotInApprovedRegistry, ReferenceError: the image is not in an approved registry.
        KeyFormatError, UnresolvedSecretError: a key file is not usable.
        NotFoundInRegistry: no such tag or digest.
        RegistryError: the registry failed.
    """
    _authorise(hm, principal, environment)
    ref, registry = _target(hm, image)
    if environment is not None and principal.role not in PERMISSIONS[Permission.REGISTRY_PROBE]:
        _require_granted(hm, registry.name, environment)
    trust = (
        environment_trust(hm, environment, annotations=annotations)
        if environment is not None
        else key_trust(hm, files=keys, vault_keys=vault_keys, required=required, annotations=annotations)
    )
    return verify_with_trust(hm, ref, registry, trust, actor=principal.audit_name, use_cache=use_cache)


def verify_with_trust(
    hm: Harbourmaster,
    ref: ImageReference,
    registry: Registry,
    trust: Trust,
    *,
    actor: str,
    use_cache: bool = True,
) -> ImageVerificationPublic:
    """Verify ``ref`` (in approved ``registry``) under ``trust``, caching the result; the caller has
    authorised it (:func:`verify_image`, or a verdict on an image whose source is allowed).

    Raises:
        NotFoundInRegistry, RegistryError: as :func:`verify_image`.
    """
    now = hm.clock.now()
    cache_key = verification_cache_key(trust, ref)

    async def run() -> tuple[str, list[SignatureCheck] | None, CachedVerification | None]:
        async with _client(hm, registry, actor=actor, purpose="image.verify") as client:
            digest = ref.digest or await client.resolve(ref.path, ref.tag or "latest")
            if use_cache:
                with hm.store.read() as tx:
                    cached = tx.signing.cached(digest, cache_key)
                if cached is not None and (cached.satisfied or now - cached.verified_at < negative_ttl()):
                    return digest, None, cached
            return digest, await _checks(client, ref, digest, trust, now), None

    digest, checks, cached = run_sync(run())
    if cached is not None:
        return ImageVerificationPublic.model_validate({**cached.result, "cached": True})
    assert checks is not None
    verified = sorted({c.signer for c in checks if c.verified and c.signer})
    verdict = trust.policy.evaluate(verified)
    satisfied = verdict.satisfied and (bool(checks) or not trust.policy.require_signature)
    reason = (
        verdict.reason
        if checks or not trust.policy.require_signature
        else (
            f"no signature found (neither {signature_tag(digest)} nor a signature artifact refers to "
            "the image)"
        )
    )
    result = ImageVerificationPublic(
        image=ref.normalized,
        image_digest=digest,
        satisfied=satisfied,
        reason=reason,
        required=list(trust.policy.signers),
        mode=trust.policy.required.value,
        verified_signers=verified,
        signatures=[SignatureCheckPublic.of(c) for c in checks],
        trust=trust.source,
        verified_at=now.isoformat(),
        cached=False,
    )
    with hm.store.transaction() as tx:
        tx.signing.cache(
            CachedVerification(
                image_digest=digest,
                trust_fingerprint=cache_key,
                satisfied=satisfied,
                result=result.model_dump(mode="json"),
                verified_at=now,
            )
        )
    return result
