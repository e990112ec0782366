"""Signing policy end to end: vault keys, the governance ``signing`` section, tiers' ``signers``,
``verify --env`` against the real CNCF distribution registry.

Independent peers: skopeo reads the bundle artifacts and the referrers tag, openssl checks the
DSSE signature, the sigstore and Notation vectors were made by cosign and notation themselves.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner, Result

from harbourmaster.cli.main import app
from harbourmaster.registry import Descriptor, Digest
from harbourmaster.registry.media import OCI_MANIFEST, compute_digest
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.signing_keys import open_signing_key
from harbourmaster.signing.artifacts import push_bundle
from harbourmaster.signing.bundle import BUNDLE_V03
from harbourmaster.signing.keys import (
    PrivateKey,
    encrypt_private_key,
    generate_private_key,
    private_key_der,
    public_key_pem,
)
from harbourmaster.signing.oci import (
    ANNOTATION_SIGNATURE,
    SIMPLE_SIGNING_MEDIA_TYPE,
    append_tag_signature,
    signature_tag,
)
from harbourmaster.signing.payload import build_payload
from harbourmaster.signing.signatures import sign_bytes
from tests.integration.registry_fixtures import PASSWORD, skopeo, write_image_layout
from tests.signing._openssl import openssl_verifies
from tests.signing._vectors import BUNDLES, CONTAINERS_IMAGE, NOTATION

if TYPE_CHECKING:
    from tests.integration.registry_fixtures import RunningRegistry

pytestmark = pytest.mark.integration

REPO = "hmsignpolicy/app"
KEY_PASSWORD = "canary-CiKeyPw-9d41-never-print"
IMAGES = (
    "signed",
    "bundled",
    "unsigned",
    "layout",
    "cached",
    "uncached",
    "mirrored",
    "source",
    "victim",
    "flooded",
    "judged",
    "judged-unsigned",
    "judged-foreign",
)
ATTESTATION = BUNDLES / "cosign-oci-attestation"
ATTESTED_DIGEST = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"
NOTATION_E2E = NOTATION / "e2e"


def run_async(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=120))


@dataclass
class Lab:
    registry: RunningRegistry
    run: Callable[..., Result]
    outputs: list[str]
    digests: dict[str, str]
    document: Path
    ci_key: PrivateKey
    ci_key_file: Path

    def ref(self, name: str, repo: str = REPO) -> str:
        return f"{self.registry.host}/{repo}:{name}"

    def apply(
        self,
        *,
        tiers: dict[str, dict[str, Any]],
        signing: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Apply the lab's model with these tier settings and ``signing`` section (JSON is YAML)."""
        document = {
            "apiVersion": "harbourmaster.io/v1",
            "kind": "Governance",
            "registries": [
                {
                    "name": "lab-policy",
                    "provider": "custom",
                    "url": f"http://{self.registry.host}",
                    "credential": {
                        "kind": "user",
                        "username": self.registry.username,
                        "secret": "env:HM_POLICY_LAB_SECRET",
                    },
                    "tls": {"insecure": True},
                }
            ],
            "environments": [
                {"name": "prod", "kind": "docker-standalone", "tier": "production"},
                {"name": "stage", "kind": "docker-standalone", "tier": "staging"},
                {"name": "dev", "kind": "docker-standalone", "tier": "development"},
            ],
            "tiers": tiers,
            "signing": signing or {},
            **(extra or {}),
        }
        self.document.write_text(json.dumps(document, indent=2))
        applied = self.run("apply", "-f", str(self.document))
        assert applied.exit_code == 0, applied.output

    def keys(self) -> dict[str, str]:
        """Generate ``rel`` in the vault and import ``ci``; their public PEMs by name."""
        generated = self.run("signing-key", "generate", "rel", "--json")
        assert generated.exit_code == 0, generated.output
        imported = self.run(
            "signing-key",
            "import",
            "ci",
            "--key",
            str(self.ci_key_file),
            "--password",
            "env:HM_CI_KEY_PASSWORD",
            "--json",
        )
        assert imported.exit_code == 0, imported.output
        return {
            "rel": json.loads(generated.stdout)["public_key"],
            "ci": json.loads(imported.stdout)["public_key"],
        }

    def verify(self, image: str, *args: str) -> tuple[Result, dict[str, Any]]:
        result = self.run("verify", image, *args, "--json")
        assert result.exit_code in (0, 1), result.output
        data: dict[str, Any] = json.loads(result.stdout)
        assert (result.exit_code == 0) is data["satisfied"]
        return result, data


def signing_keys(pems: dict[str, str]) -> dict[str, Any]:
    return {"keys": [{"name": name, "public_key": pem} for name, pem in pems.items()]}


def production(
    signers: list[str], required: str = "any", *, dev_signers: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    return {
        "production": {"require_signature": True, "signers": signers, "signers_required": required},
        "staging": {"require_signature": True, "signers": [], "signers_required": "any"},
        "development": {"require_signature": False, "signers": dev_signers or [], "signers_required": "any"},
    }


@pytest.fixture(scope="module")
def digests(tmp_path_factory: pytest.TempPathFactory, registry_basic: RunningRegistry) -> dict[str, str]:
    root = tmp_path_factory.mktemp("policy-images")
    pushed = {}
    for name in IMAGES:
        write_image_layout(root / name, seed=f"policy-{name}-{os.urandom(4).hex()}")
        skopeo(
            registry_basic, "copy", f"oci:{root / name}:v1", f"docker://{registry_basic.host}/{REPO}:{name}"
        )
        pushed[name] = skopeo(
            registry_basic,
            "inspect",
            "--format",
            "{{.Digest}}",
            f"docker://{registry_basic.host}/{REPO}:{name}",
        ).strip()
    return pushed


@pytest.fixture
def lab(
    digests: dict[str, str], registry_basic: RunningRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Lab]:
    monkeypatch.setenv("HM_POLICY_LAB_SECRET", PASSWORD)
    monkeypatch.setenv("HM_CI_KEY_PASSWORD", KEY_PASSWORD)
    ci_key = generate_private_key()
    ci_key_file = tmp_path / "ci.key"
    ci_key_file.write_bytes(encrypt_private_key(ci_key, KEY_PASSWORD.encode()))
    runner = CliRunner()
    outputs: list[str] = []

    def run(*args: str) -> Result:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        outputs.extend([result.stdout, result.stderr])
        assert "Traceback" not in result.stdout + result.stderr
        assert "unexpected" not in result.stderr, result.stderr  # a harbourmaster defect, not a verdict
        return result

    assert run("init").exit_code == 0
    built = Lab(registry_basic, run, outputs, digests, tmp_path / "governance.yaml", ci_key, ci_key_file)
    built.apply(tiers=production([]))
    yield built
    exported = run("audit", "export")
    assert exported.exit_code == 0
    for text in outputs:
        assert PASSWORD not in text
        assert KEY_PASSWORD not in text


# -- a: vault keys never show their private half ------------------------------------------------


def _private_forms(key: PrivateKey) -> list[bytes]:
    """The private key as PKCS#8 DER, its base64, its PEM, and the secret scalar itself (raw, hex, base64)."""
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    der = private_key_der(key)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    return [der, base64.b64encode(der), pem, scalar, scalar.hex().encode(), base64.b64encode(scalar)]


def test_vault_keys_show_only_public_material_anywhere(lab: Lab) -> None:
    pems = lab.keys()
    assert lab.run("signing-key", "generate", "rel").exit_code == 2  # keys are never replaced
    listed = lab.run("signing-key", "list", "--json")
    assert listed.exit_code == 0
    entries = json.loads(listed.stdout)
    assert sorted(e["name"] for e in entries) == ["ci", "rel"]
    for entry in entries:
        assert set(entry) == {"name", "algorithm", "fingerprint", "public_key", "created_at", "created_by"}
        assert entry["public_key"] == pems[entry["name"]]
        assert entry["public_key"].startswith("-----BEGIN PUBLIC KEY-----")
        assert entry["fingerprint"].startswith("sha256:")
    public = lab.run("signing-key", "public", "rel")
    assert public.exit_code == 0 and public.stdout == pems["rel"]
    assert pems["ci"] == public_key_pem(lab.ci_key)

    home = Path(os.environ["HARBOURMASTER_HOME"])
    core = Harbourmaster.from_environ()
    rel_key, _ = open_signing_key(core, "rel")
    core.db.dispose()
    secrets = [*_private_forms(rel_key), *_private_forms(lab.ci_key), KEY_PASSWORD.encode()]
    audit = lab.run("audit", "export")
    assert audit.exit_code == 0
    records = [json.loads(line) for line in audit.stdout.splitlines() if line.strip()]
    actions = {r["action"]: r for r in records if "action" in r}
    assert actions["signing-key.generate"]["target"] == "rel"
    by_name = {e["name"]: e for e in entries}
    assert actions["signing-key.import"]["details"]["fingerprint"] == by_name["ci"]["fingerprint"]
    texts = [t.encode() for t in lab.outputs]
    database = [p for p in home.iterdir() if p.name.startswith("harbourmaster.db")]
    assert database, f"no SQLite database under {home}"
    stored = [p.read_bytes() for p in database]
    for secret in secrets:
        for text in texts:
            assert secret not in text
        for raw in stored:
            assert secret not in raw
    assert b"PRIVATE KEY" not in b"".join(texts)


# -- b: tiers' signers decide ---------------------------------------------------------------------


def test_tier_signers_any_all_none_and_a_tier_without_requirement(lab: Lab) -> None:
    pems = lab.keys()
    signed = lab.run("sign", lab.ref("signed"), "--signing-key", "rel", "--json")
    assert signed.exit_code == 0, signed.output
    assert json.loads(signed.stdout)["format"] == "tag"
    bundled = lab.run("sign", lab.ref("signed"), "--signing-key", "rel", "--format", "bundle", "--json")
    assert bundled.exit_code == 0, bundled.output
    assert json.loads(bundled.stdout)["format"] == "bundle"
    assert lab.run("sign", lab.ref("bundled"), "--signing-key", "rel", "--format", "bundle").exit_code == 0

    lab.apply(tiers=production(["rel"], dev_signers=["rel"]), signing=signing_keys(pems))
    ok, data = lab.verify(lab.ref("signed"), "--env", "prod")
    assert ok.exit_code == 0
    assert data["image_digest"] == lab.digests["signed"]
    assert data["required"] == ["rel"] and data["mode"] == "any" and data["verified_signers"] == ["rel"]
    assert data["trust"] == "environment prod (production tier)"
    assert sorted(s["form"] for s in data["signatures"]) == ["bundle", "tag"]
    assert all(s["verified"] and s["signer"] == "rel" for s in data["signatures"])
    bundle_only, data = lab.verify(lab.ref("bundled"), "--env", "prod")
    assert bundle_only.exit_code == 0
    assert [(s["form"], s["verified"]) for s in data["signatures"]] == [("bundle", True)]

    # all of rel and ci: rel alone is not enough, until ci signs too.
    lab.apply(tiers=production(["rel", "ci"], "all"), signing=signing_keys(pems))
    partial, data = lab.verify(lab.ref("signed"), "--env", "prod")
    assert partial.exit_code == 1
    assert "no valid signature by ci" in data["reason"] and data["verified_signers"] == ["rel"]
    text = lab.run("verify", lab.ref("signed"), "--env", "prod")
    assert (
        text.exit_code == 1 and "NOT satisfied" in text.stdout and "no valid signature by ci" in text.stdout
    )
    assert lab.run("sign", lab.ref("signed"), "--signing-key", "ci").exit_code == 0
    both, data = lab.verify(lab.ref("signed"), "--env", "prod")
    assert both.exit_code == 0 and data["verified_signers"] == ["ci", "rel"]
    assert "signed by all of rel, ci" in data["reason"]

    unsigned, data = lab.verify(lab.ref("unsigned"), "--env", "prod")
    assert unsigned.exit_code == 1 and data["signatures"] == []
    assert "no signature found" in data["reason"]

    # The staging tier requires a signature and names no signer: nothing satisfies it (fail closed).
    closed, data = lab.verify(lab.ref("signed"), "--env", "stage")
    assert closed.exit_code == 1 and data["required"] == []
    assert "no trusted signer is configured" in data["reason"]
    assert len(data["signatures"]) == 3  # what was found is still reported

    lab.apply(tiers=production(["rel"], dev_signers=["rel"]), signing=signing_keys(pems))
    relaxed, data = lab.verify(lab.ref("signed"), "--env", "dev")
    assert relaxed.exit_code == 0 and data["trust"] == "environment dev (development tier)"
    assert "no signature is required; verified by rel" in data["reason"]
    assert sorted((s["form"], s["verified"]) for s in data["signatures"]) == [
        ("bundle", True),
        ("tag", False),  # ci's tag signature: ci is not a signer of this tier
        ("tag", True),
    ]
    nothing, data = lab.verify(lab.ref("unsigned"), "--env", "dev")
    assert nothing.exit_code == 0 and data["signatures"] == []


# -- c: the bundle format, read by skopeo ---------------------------------------------------------


def test_bundle_signature_layout_seen_by_skopeo(lab: Lab, tmp_path: Path) -> None:
    pems = lab.keys()
    signed = lab.run("sign", lab.ref("layout"), "--signing-key", "rel", "--format", "bundle", "--json")
    assert signed.exit_code == 0, signed.output
    info = json.loads(signed.stdout)
    digest = lab.digests["layout"]
    artifact = info["location"].rpartition("@")[2]
    host = lab.registry.host
    raw_image = skopeo(lab.registry, "inspect", "--raw", f"docker://{host}/{REPO}@{digest}")
    image = json.loads(raw_image)

    # The distribution registry has no referrers API: the sha256-<hex> tag is the referrers index.
    index = json.loads(
        skopeo(lab.registry, "inspect", "--raw", f"docker://{host}/{REPO}:{digest.replace(':', '-')}")
    )
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    entries = [m for m in index["manifests"] if m["digest"] == artifact]
    assert len(entries) == 1 and entries[0]["artifactType"] == BUNDLE_V03

    manifest_raw = skopeo(lab.registry, "inspect", "--raw", f"docker://{host}/{REPO}@{artifact}")
    assert compute_digest(manifest_raw.encode()) == artifact
    manifest = json.loads(manifest_raw)
    assert manifest["artifactType"] == BUNDLE_V03
    assert manifest["subject"] == {
        "mediaType": image["mediaType"],
        "digest": digest,
        "size": len(raw_image.encode()),
    }
    assert [layer["mediaType"] for layer in manifest["layers"]] == [BUNDLE_V03]
    layer = manifest["layers"][0]
    blob = httpx.get(
        f"{lab.registry.url}/v2/{REPO}/blobs/{layer['digest']}",
        auth=(lab.registry.username or "", lab.registry.password or ""),
        follow_redirects=True,
        timeout=30,
    )
    assert blob.status_code == 200 and compute_digest(blob.content) == layer["digest"]
    bundle = json.loads(blob.content)
    assert bundle["mediaType"] == BUNDLE_V03
    envelope = bundle["dsseEnvelope"]
    payload = base64.b64decode(envelope["payload"])
    statement = json.loads(payload)
    assert [s["digest"]["sha256"] for s in statement["subject"]] == [digest.removeprefix("sha256:")]
    # DSSE's pre-authentication encoding, signed by rel's key: openssl agrees.
    kind = envelope["payloadType"].encode()
    pae = b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)
    signature = base64.b64decode(envelope["signatures"][0]["sig"])
    assert openssl_verifies(pems["rel"], pae, signature)
    assert not openssl_verifies(pems["ci"], pae, signature)


# -- d: a keyless bundle made by cosign, stored in the registry -----------------------------------


def _certificate_identity(bundle: dict[str, Any]) -> tuple[str, str]:
    """The Fulcio certificate's OIDC issuer (extension 1.3.6.1.4.1.57264.1.1) and its email SAN."""
    raw = base64.b64decode(bundle["verificationMaterial"]["certificate"]["rawBytes"])
    certificate = x509.load_der_x509_certificate(raw)
    issuer = certificate.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1"))
    assert isinstance(issuer.value, x509.UnrecognizedExtension)
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    (email,) = san.get_values_for_type(x509.RFC822Name)
    return issuer.value.value.decode(), email


def test_a_keyless_bundle_in_the_registry_verifies_against_a_trusted_identity(lab: Lab) -> None:
    repo = f"hmsignpolicy/keyless-{os.urandom(3).hex()}"
    content = (ATTESTATION / "attestation.sigstore.json").read_bytes()
    trusted_root = (ATTESTATION / "trusted_root.json").read_text()
    issuer, email = _certificate_identity(json.loads(content))

    async def push() -> str:
        async with lab.registry.client() as client:
            subject = Descriptor(media_type=OCI_MANIFEST, digest=Digest(ATTESTED_DIGEST), size=2)
            return await push_bundle(
                client, repo, bundle=content, subject=subject, created=dt.datetime.now(dt.UTC)
            )

    artifact = run_async(push())
    image = f"{lab.registry.host}/{repo}@{ATTESTED_DIGEST}"

    def signing(subject_regex: str) -> dict[str, Any]:
        return {
            "identities": [{"name": "cody", "issuer": issuer, "subject_regex": subject_regex}],
            "trusted_root": trusted_root,
        }

    lab.apply(tiers=production(["cody"]), signing=signing(re.escape(email)))
    ok, data = lab.verify(image, "--env", "prod")
    assert ok.exit_code == 0, data
    (check,) = data["signatures"]
    assert check["form"] == "bundle" and check["location"] == artifact and check["signer"] == "cody"
    assert email in check["reason"] and issuer in check["reason"]

    lab.apply(tiers=production(["cody"]), signing=signing(r"someone-else@example\.com"))
    other, data = lab.verify(image, "--env", "prod")
    assert other.exit_code == 1 and data["cached"] is False
    (check,) = data["signatures"]
    assert check["verified"] is False
    assert f"identity {email} from issuer {issuer} matches no trusted identity" in check["reason"]


def test_a_classic_keyless_signature_in_the_registry_verifies_against_a_trusted_identity(lab: Lab) -> None:
    # cosign's classic keyless layer (containers/image vector): the payload, its signature and the
    # certificate, chain and Rekor bundle annotations, pushed as cosign lays it out under the image's
    # sha256-<hex>.sig tag (the image itself need not be here; its digest is what was signed).
    vector = CONTAINERS_IMAGE / "cosign-fulcio-rekor-valid"
    digest = "sha256:" + hashlib.sha256((vector / "manifest.json").read_bytes()).hexdigest()
    repo = f"hmsignpolicy/classic-{os.urandom(3).hex()}"
    payload = (vector / "payload.json").read_bytes()
    annotations = {
        ANNOTATION_SIGNATURE: (vector / "signature.b64").read_text().strip(),
        "dev.sigstore.cosign/certificate": (vector / "cert.pem").read_text(),
        "dev.sigstore.cosign/chain": (vector / "chain.pem").read_text(),
        "dev.sigstore.cosign/bundle": (vector / "rekor-bundle.json").read_text(),
    }

    async def push() -> None:
        async with lab.registry.client() as client:
            await append_tag_signature(
                client,
                repo,
                image_digest=digest,
                payload=payload,
                signature_b64=annotations[ANNOTATION_SIGNATURE],
                annotations={k: v for k, v in annotations.items() if k != ANNOTATION_SIGNATURE},
            )

    run_async(push())
    image = f"{lab.registry.host}/{repo}@{digest}"
    root = (BUNDLES / "trusted_root.production.json").read_text()

    def signing(subject_regex: str) -> dict[str, Any]:
        identity = {
            "name": "mitr",
            "issuer": "https://github.com/login/oauth",
            "subject_regex": subject_regex,
        }
        return {"identities": [identity], "trusted_root": root}

    lab.apply(tiers=production(["mitr"]), signing=signing(r"mitr@redhat\.com"))
    ok, data = lab.verify(image, "--env", "prod")
    assert ok.exit_code == 0, data
    (check,) = data["signatures"]
    assert check["form"] == "tag" and check["signer"] == "mitr" and "logged at 1674247893" in check["reason"]
    lab.apply(tiers=production(["mitr"]), signing=signing(r"someone@example\.com"))
    other, data = lab.verify(image, "--env", "prod")
    assert other.exit_code == 1 and "matches no trusted identity" in data["signatures"][0]["reason"]


# -- e: a Notation signature made by notation, stored in the registry -----------------------------


NOTATION_LAYOUT = NOTATION_E2E / "oci_layout" / "e2e-valid-signature"
NOTATION_ARTIFACT = "application/vnd.cncf.notary.signature"


def _layout_blob(digest: str) -> bytes:
    return (NOTATION_LAYOUT / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()


@dataclass(frozen=True)
class NotationPush:
    image: str
    target_digest: str
    signature_digest: str


def _push_notation(lab: Lab, *, notation_index: bool) -> NotationPush:
    """The e2e-valid-signature layout (written by the notation CLI) pushed to a new repository with
    the registry client: the target tagged v1, then the signature manifest (subject = the target),
    for which the client maintains the ``sha256-<hex>`` referrers tag.  ``notation_index``: then
    also put the referrers index the notation CLI itself wrote for it (byte for byte) at that tag."""
    index = json.loads((NOTATION_LAYOUT / "index.json").read_text())
    by_tag = {
        m.get("annotations", {}).get("org.opencontainers.image.ref.name"): m for m in index["manifests"]
    }
    target = by_tag["v1"]
    signatures = [
        m
        for m in index["manifests"]
        if m["mediaType"] == OCI_MANIFEST
        and json.loads(_layout_blob(m["digest"])).get("subject", {}).get("digest") == target["digest"]
    ]
    assert len(signatures) == 1
    signature_raw = _layout_blob(signatures[0]["digest"])
    referrers_tag = target["digest"].replace(":", "-")
    repo = f"hmsignpolicy/notation-{os.urandom(3).hex()}"

    async def push() -> None:
        async with lab.registry.client() as client:
            for raw, reference in (
                (_layout_blob(target["digest"]), "v1"),
                (signature_raw, signatures[0]["digest"]),
            ):
                manifest = json.loads(raw)
                for descriptor in [manifest["config"], *manifest["layers"]]:
                    await client.upload_blob(repo, _layout_blob(descriptor["digest"]))
                await client.put_manifest(repo, reference, raw, media_type=OCI_MANIFEST)
            if notation_index:
                await client.put_manifest(
                    repo,
                    referrers_tag,
                    _layout_blob(by_tag[referrers_tag]["digest"]),
                    media_type="application/vnd.oci.image.index.v1+json",
                )

    run_async(push())
    return NotationPush(f"{lab.registry.host}/{repo}:v1", target["digest"], signatures[0]["digest"])


def _notation_signing(certificate: str) -> dict[str, Any]:
    policy = json.loads((NOTATION_E2E / "trustpolicy" / "trustpolicy.json").read_text())
    assert [p["registryScopes"] for p in policy["trustPolicies"]] == [["*"]]  # covers any repository
    return {
        "notation": {
            "trust_stores": [
                {
                    "name": "e2e",
                    "type": "ca",
                    "certificates": (NOTATION_E2E / "truststore" / certificate).read_text(),
                }
            ],
            "trust_policy": json.dumps(policy),
        }
    }


def test_a_notation_signature_in_the_registry_verifies_against_the_trust_store(lab: Lab) -> None:
    pushed = _push_notation(lab, notation_index=True)
    lab.apply(tiers=production(["e2e"]), signing=_notation_signing("e2e.crt"))
    ok, data = lab.verify(pushed.image, "--env", "prod")
    assert ok.exit_code == 0, data
    assert data["image_digest"] == pushed.target_digest
    (check,) = data["signatures"]
    assert check["form"] == "notation" and check["location"] == pushed.signature_digest
    assert check["verified"] is True and check["signer"] == "e2e"

    # The same public key in a certificate with another name is not the trust anchor.
    lab.apply(tiers=production(["e2e"]), signing=_notation_signing("new_e2e.crt"))
    refused, data = lab.verify(pushed.image, "--env", "prod")
    assert refused.exit_code == 1
    (check,) = data["signatures"]
    assert check["verified"] is False and "authenticity" in check["reason"]


def test_the_referrers_tag_the_client_maintains_names_a_notation_signatures_artifact_type(lab: Lab) -> None:
    pushed = _push_notation(lab, notation_index=False)
    tag = pushed.target_digest.replace(":", "-")
    index = json.loads(
        skopeo(lab.registry, "inspect", "--raw", f"docker://{pushed.image.rpartition(':')[0]}:{tag}")
    )
    (entry,) = index["manifests"]
    assert entry["digest"] == pushed.signature_digest
    assert entry.get("artifactType") == NOTATION_ARTIFACT
    lab.apply(tiers=production(["e2e"]), signing=_notation_signing("e2e.crt"))
    ok, data = lab.verify(pushed.image, "--env", "prod")
    assert ok.exit_code == 0, data


# -- f: the verification cache --------------------------------------------------------------------


def _timeless(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ("cached", "verified_at")}


def test_verdicts_are_cached_until_a_signature_is_added(lab: Lab) -> None:
    pems = lab.keys()
    lab.apply(tiers=production(["ci"]), signing=signing_keys(pems))
    assert lab.run("sign", lab.ref("cached"), "--signing-key", "ci").exit_code == 0
    first, data = lab.verify(lab.ref("cached"), "--env", "prod")
    assert first.exit_code == 0 and data["cached"] is False
    again, repeated = lab.verify(lab.ref("cached"), "--env", "prod")
    assert again.exit_code == 0 and repeated["cached"] is True
    assert _timeless(repeated) == _timeless(data) and repeated["verified_at"] == data["verified_at"]
    text = lab.run("verify", lab.ref("cached"), "--env", "prod")
    assert text.exit_code == 0 and "(cached verdict)" in text.stdout

    # Signing the digest drops its cached verdicts: the next verification sees both signatures.
    assert lab.run("sign", lab.ref("cached"), "--signing-key", "rel").exit_code == 0
    fresh, data = lab.verify(lab.ref("cached"), "--env", "prod")
    assert fresh.exit_code == 0 and data["cached"] is False and len(data["signatures"]) == 2

    # An unsatisfied verdict is reused for a while; a signature added behind harbourmaster's back
    # is seen with --no-cache.
    refused, data = lab.verify(lab.ref("uncached"), "--env", "prod")
    assert refused.exit_code == 1 and data["cached"] is False
    digest = lab.digests["uncached"]
    reference = f"{lab.registry.host}/{REPO}"
    payload = build_payload(docker_reference=reference, image_digest=digest, annotations=None)
    signature = base64.b64encode(sign_bytes(lab.ci_key, payload)).decode()

    async def append() -> None:
        from harbourmaster.signing.oci import append_tag_signature

        async with lab.registry.client() as client:
            await append_tag_signature(
                client, REPO, image_digest=digest, payload=payload, signature_b64=signature
            )

    run_async(append())
    stale, data = lab.verify(lab.ref("uncached"), "--env", "prod")
    assert stale.exit_code == 1 and data["cached"] is True
    checked, data = lab.verify(lab.ref("uncached"), "--env", "prod", "--no-cache")
    assert checked.exit_code == 0 and data["cached"] is False and data["verified_signers"] == ["ci"]


def test_a_cached_verdict_is_not_reused_for_the_same_digest_in_another_repository(lab: Lab) -> None:
    pems = lab.keys()
    lab.apply(tiers=production(["ci"]), signing=signing_keys(pems))
    assert lab.run("sign", lab.ref("mirrored"), "--signing-key", "ci").exit_code == 0
    ok, data = lab.verify(lab.ref("mirrored"), "--env", "prod")
    assert ok.exit_code == 0
    # The same image copied to another repository, without its signatures (cosign looks for them
    # beside the image: in that repository there are none).
    mirror = f"hmsignpolicy/mirror-{os.urandom(3).hex()}"
    host = lab.registry.host
    skopeo(lab.registry, "copy", f"docker://{host}/{REPO}:mirrored", f"docker://{host}/{mirror}:mirrored")
    copied, data = lab.verify(lab.ref("mirrored", mirror), "--env", "prod")
    assert data["image"] == f"{host}/{mirror}:mirrored" and data["image_digest"] == lab.digests["mirrored"]
    assert copied.exit_code == 1 and data["cached"] is False and data["signatures"] == []


# -- g: tampered signature manifests --------------------------------------------------------------


def test_a_copied_signature_fails_and_a_flooded_manifest_is_refused(lab: Lab) -> None:
    pems = lab.keys()
    lab.apply(tiers=production(["rel"]), signing=signing_keys(pems))
    assert lab.run("sign", lab.ref("source"), "--signing-key", "rel").exit_code == 0
    host = lab.registry.host
    source = f"docker://{host}/{REPO}:{signature_tag(lab.digests['source'])}"
    target = f"docker://{host}/{REPO}:{signature_tag(lab.digests['victim'])}"
    skopeo(lab.registry, "copy", source, target)
    copied, data = lab.verify(lab.ref("victim"), "--env", "prod")
    assert copied.exit_code == 1
    (check,) = data["signatures"]
    assert check["form"] == "tag" and check["verified"] is False
    assert "copied from another image" in check["reason"]

    # 300 layers in a .sig manifest: over the 256 harbourmaster reads, refused as a whole: a failed
    # signature (the registry's content, not the caller's input), so the policy says no.
    digest = lab.digests["flooded"]
    payload = build_payload(docker_reference=f"{host}/{REPO}", image_digest=digest, annotations=None)
    config = b"{}"
    layers = [
        {
            "mediaType": SIMPLE_SIGNING_MEDIA_TYPE,
            "size": len(payload),
            "digest": compute_digest(payload),
            "annotations": {ANNOTATION_SIGNATURE: base64.b64encode(b"x" * (i + 1)).decode()},
        }
        for i in range(300)
    ]
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "size": len(config),
                "digest": compute_digest(config),
            },
            "layers": layers,
        }
    ).encode()

    async def flood() -> None:
        async with lab.registry.client() as client:
            await client.upload_blob(REPO, config)
            await client.upload_blob(REPO, payload)
            await client.put_manifest(REPO, signature_tag(digest), manifest, media_type=OCI_MANIFEST)

    run_async(flood())
    flooded, data = lab.verify(lab.ref("flooded"), "--env", "prod")
    assert flooded.exit_code == 1, flooded.output
    (check,) = data["signatures"]
    assert check["form"] == "tag" and check["verified"] is False
    assert "has 300 layers, over the 256 signatures harbourmaster reads" in check["reason"]
    assert "refused as a whole" in check["reason"]
    assert "Traceback" not in flooded.output and "unexpected" not in flooded.output


# -- the image policy verdict's signature part, from the same verification and cache ----------------


def _check(lab: Lab, name: str) -> tuple[int, dict[str, Any]]:
    result = lab.run("check", "--env", "dev", "--user", "dev1", lab.ref(name), "--json")
    assert result.exit_code in (0, 1), result.output
    (row,) = json.loads(result.stdout)
    return result.exit_code, row


def test_the_verdict_requires_the_tier_signers_signature(lab: Lab) -> None:
    pems = lab.keys()
    assert lab.run("sign", lab.ref("judged"), "--signing-key", "rel").exit_code == 0
    assert lab.run("sign", lab.ref("judged-foreign"), "--signing-key", "ci").exit_code == 0
    # The lab registry is plain HTTP, so the development tier (the only one it may serve) is made to
    # require rel's signature; unscanned images are allowed there, to judge the signature part alone.
    tiers = production(["rel"])
    tiers["development"] = {"require_signature": True, "signers": ["rel"], "unscanned": "allow"}
    lab.apply(
        tiers=tiers,
        signing=signing_keys(pems),
        extra={
            "users": [{"name": "dev1", "role": "team-member"}],
            "access": [{"environment": "dev", "user": "dev1"}],
            "grants": [{"registry": "lab-policy", "environment": "dev", "users": ["dev1"]}],
        },
    )
    code, row = _check(lab, "judged")
    assert code == 0, row
    signature = row["verdict"]["signature"]
    assert (signature["status"], signature["verified_signers"]) == ("verified", ["rel"])
    assert row["digest"] == lab.digests["judged"]
    assert row["verdict"]["vulnerabilities"]["status"] == "unscanned"  # allowed here, and said so

    code, row = _check(lab, "judged-unsigned")
    assert code == 1 and row["verdict"]["signature"]["status"] == "missing"
    assert any("no signature refers to" in r for r in row["reasons"])
    code, row = _check(lab, "judged-foreign")
    assert code == 1 and row["verdict"]["signature"]["status"] == "invalid"
    assert any("no valid signature by any of rel" in r for r in row["reasons"])

    # The verdict took verify's cache: verify --env sees the verdict it cached, and signing drops it.
    _, cached = lab.verify(lab.ref("judged-foreign"), "--env", "dev")
    assert cached["cached"] is True and cached["satisfied"] is False
    assert lab.run("sign", lab.ref("judged-foreign"), "--signing-key", "rel").exit_code == 0
    code, row = _check(lab, "judged-foreign")
    assert code == 0 and row["verdict"]["signature"]["verified_signers"] == ["rel"]
