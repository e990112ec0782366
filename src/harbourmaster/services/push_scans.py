"""The ``registry.push`` job: what happens after a registry reports that an image was pushed.

For ``<registry>/<repository>@<digest>`` (queued by
:func:`~harbourmaster.services.registry_events.receive_registry_events`), in the name of the registry
that reported it (``registry:<name>``):

1. the manifest is read, and the job ends (skipped) when it is no image: a manifest with a
   ``subject`` or an ``artifactType``, an index of artifacts, or a manifest whose config or layers are
   not an image's (cosign signatures, attestations, SBOMs).  Attaching the SBOM below pushes such an
   artifact, so without this each scan would start the next;
2. its SBOM is generated and stored (:func:`~harbourmaster.services.sbom_ops.generate_image_sbom`);
3. the SBOM is attached to the image; a registry that refuses the artifact is recorded in the result,
   not a failure;
4. the image is scanned by digest (:func:`~harbourmaster.services.scans.scan_target`), which keeps the
   result for the digest;
5. its signatures are verified against each environment that grants the registry and whose tier has
   signers (:func:`~harbourmaster.services.signing.verify_image`), so admission finds the verdict
   cached.

The job may read only the registry that reported the push: the payload's registry must be the job's
actor's, and the image must be in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.reference import ImageReference, parse_reference
from harbourmaster.errors import BadInput, Error, Forbidden
from harbourmaster.registry import ClientOptions
from harbourmaster.registry.media import ImageIndex, ImageManifest
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.registry_endpoints import endpoint_for, provider_for, run_sync
from harbourmaster.services.registry_notifications import registry_of_actor
from harbourmaster.services.registry_scope import approved_registry, named_registry

__all__ = ["artifact_reason", "check_push_payload", "run_push_scan"]

_OPTIONS = ClientOptions(connect_timeout=5.0, read_timeout=20.0, max_retries=1)
_IMAGE_CONFIGS = frozenset({"application/vnd.oci.image.config.v1+json",
                            "application/vnd.docker.container.image.v1+json"})


def _text(payload: Mapping[str, object], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value:
        raise BadInput(f"a registry.push job needs {key!r} in its payload")
    return value


def check_push_payload(hm: Harbourmaster, payload: Mapping[str, object]) -> None:
    """Raises:
    BadInput: the payload lacks the registry, repository or digest.
    NotFound: no such registry.
    """
    named_registry(hm, _text(payload, "registry"))
    _text(payload, "repository")
    _text(payload, "digest")


def artifact_reason(manifest: ImageManifest | ImageIndex) -> str | None:
    """Why ``manifest`` is not an image to scan (a signature, attestation, SBOM...), or None."""
    if manifest.subject is not None:
        return f"it refers to {manifest.subject.digest} (an artifact attached to an image)"
    if isinstance(manifest, ImageIndex):
        if manifest.manifests and all(m.artifact_type for m in manifest.manifests):
            return "it is an index of artifacts"
        return None
    if manifest.artifact_type:
        return f"it is an artifact of type {manifest.artifact_type}"
    if manifest.config.media_type not in _IMAGE_CONFIGS:
        return f"its config is {manifest.config.media_type}, not an image configuration"
    odd = [layer.media_type for layer in manifest.layers if "tar" not in layer.media_type]
    if odd:
        return f"its layers are not file system layers ({odd[0]})"
    return None


def _manifest(hm: Harbourmaster, principal: Principal, ref: ImageReference) -> ImageManifest | ImageIndex:
    registry = approved_registry(hm, ref)
    actor = principal.audit_name
    endpoint, development_only = endpoint_for(hm, registry, actor=actor, purpose="registry.push")
    provider = provider_for(hm, registry, actor=actor, purpose="registry.push")

    async def fetch() -> ImageManifest | ImageIndex:
        async with hm.registry_clients.client(endpoint, provider=provider, options=_OPTIONS,
                                              development_only=development_only) as client:
            fetched = await client.get_manifest(ref.path, ref.digest or ref.tag or "latest")
            return fetched.parsed

    return run_sync(fetch())


def _verifying_environments(hm: Harbourmaster, registry: str) -> list[str]:
    """Environments that grant ``registry`` and whose tier names signers."""
    snapshot = hm.snapshot()
    state = hm.state()
    granted = sorted({env for grants in (snapshot.namespace_grants, snapshot.user_grants)
                      for (env, _), registries in grants.items() if registry in registries})
    out = []
    for name in granted:
        env = snapshot.environments.get(name)
        tier = state.tiers.get(env.tier) if env is not None else None
        if tier is not None and tier.signer_policy().signers:
            out.append(name)
    return out


def run_push_scan(hm: Harbourmaster, principal: Principal, payload: Mapping[str, object]) -> dict[str, Any]:
    """Do a ``registry.push`` job (see the module); its JSON result.

    Raises:
        Forbidden: ``principal`` is not the registry the payload names, or the image is not in it.
        BadInput, NotFound: the payload is not a registry.push payload, or its registry is gone.
        RegistryError, SbomError, ...: the SBOM or the scan failed (the job is tried again).
    """
    from harbourmaster.services.sbom_ops import attach_image_sbom, generate_image_sbom
    from harbourmaster.services.scans import scan_target
    from harbourmaster.services.signing import verify_image

    name = _text(payload, "registry")
    if registry_of_actor(principal.name) != name:
        raise Forbidden(f"{principal.name} may not scan images of registry {name}")
    registry = named_registry(hm, name)
    digest = _text(payload, "digest")
    image = f"{registry.location.host}/{_text(payload, 'repository')}@{digest}"
    ref = parse_reference(image)
    if approved_registry(hm, ref).name != registry.name:
        raise Forbidden(f"{image} is not in registry {registry.name}: its push is not scanned")
    result: dict[str, Any] = {"image": image, "digest": digest, "registry": registry.name}
    reason = artifact_reason(_manifest(hm, principal, ref))
    if reason is not None:
        return {**result, "skipped": f"not an image to scan: {reason}"}
    sbom = generate_image_sbom(hm, principal, image, with_document=False)
    result["sbom"] = {"id": sbom.stored.id, "format": sbom.format, "packages": sbom.packages}
    try:
        attached = attach_image_sbom(hm, principal, image, with_document=False)
        result["attached"] = attached.artifact.model_dump(mode="json") if attached.artifact else None
    except Error as exc:  # a registry that takes no artifacts: recorded, not a failure
        result["attached"] = {"refused": exc.message}
    scan = scan_target(hm, principal, target=image)
    result["scan"] = scan.summary.model_dump(mode="json")
    checks = []
    for environment in _verifying_environments(hm, registry.name):
        try:
            verified = verify_image(hm, principal, image, environment=environment)
            checks.append({"environment": environment, "satisfied": verified.satisfied,
                           "reason": verified.reason})
        except Error as exc:
            checks.append({"environment": environment, "error": exc.message})
    result["signatures"] = checks
    return result
