"""``sign``, ``verify``, ``sign-blob`` and ``verify-blob`` end to end: the CLI, the real CNCF
distribution registry, cosign's key files from the shared vectors, skopeo and openssl as oracles."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from harbourmaster.cli.main import app
from harbourmaster.signing.keys import encrypt_private_key, generate_private_key, public_key_pem
from harbourmaster.signing.oci import ANNOTATION_SIGNATURE, SIMPLE_SIGNING_MEDIA_TYPE, signature_tag
from tests.integration.registry_fixtures import PASSWORD, skopeo, write_image_layout
from tests.signing._openssl import openssl_verifies
from tests.signing._vectors import KEYS

if TYPE_CHECKING:
    from tests.integration.registry_fixtures import RunningRegistry

pytestmark = pytest.mark.integration

REPO = "hmsigncli/app"
KEY_PASSWORD = "canary-KeyPw-51c0-never-print"

GOVERNANCE = """\
apiVersion: harbourmaster.io/v1
kind: Governance
registries:
  - name: lab-sign
    provider: custom
    url: http://{host}
    credential: {{kind: user, username: {user}, secret: env:HM_SIGN_LAB_SECRET}}
    tls: {{insecure: true}}
environments:
  - name: dev
    kind: docker-standalone
    tier: development
"""


@dataclass
class Lab:
    registry: RunningRegistry
    run: Callable[..., Result]
    outputs: list[str]
    digests: dict[str, str]
    key: Path
    pub: Path
    other_pub: Path

    def ref(self, tag: str) -> str:
        return f"{self.registry.host}/{REPO}:{tag}"


@pytest.fixture(scope="module")
def digests(tmp_path_factory: pytest.TempPathFactory, registry_basic: RunningRegistry) -> dict[str, str]:
    root = tmp_path_factory.mktemp("sign-images")
    pushed = {}
    for tag in ("v1", "v2", "v3"):
        write_image_layout(root / tag, seed=f"sign-{tag}")
        skopeo(registry_basic, "copy", f"oci:{root / tag}:v1", f"docker://{registry_basic.host}/{REPO}:{tag}")
        pushed[tag] = skopeo(
            registry_basic,
            "inspect",
            "--format",
            "{{.Digest}}",
            f"docker://{registry_basic.host}/{REPO}:{tag}",
        ).strip()
    return pushed


@pytest.fixture
def lab(
    digests: dict[str, str], registry_basic: RunningRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Lab]:
    monkeypatch.setenv("HM_SIGN_LAB_SECRET", PASSWORD)
    monkeypatch.setenv("HM_KEY_PASSWORD", KEY_PASSWORD)
    doc = tmp_path / "governance.yaml"
    doc.write_text(GOVERNANCE.format(host=registry_basic.host, user=registry_basic.username))
    private = generate_private_key()
    key = tmp_path / "cosign.key"
    key.write_bytes(encrypt_private_key(private, KEY_PASSWORD.encode()))
    pub = tmp_path / "cosign.pub"
    pub.write_text(public_key_pem(private))
    other_pub = tmp_path / "other.pub"
    other_pub.write_text(public_key_pem(generate_private_key()))
    runner = CliRunner()
    outputs: list[str] = []

    def run(*args: str) -> Result:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        outputs.extend([result.stdout, result.stderr])
        return result

    assert run("init").exit_code == 0
    assert run("apply", "-f", str(doc)).exit_code == 0
    yield Lab(registry_basic, run, outputs, digests, key, pub, other_pub)
    exported = run("audit", "export")
    assert exported.exit_code == 0
    for text in outputs:
        assert PASSWORD not in text
        assert KEY_PASSWORD not in text


def _raw(lab: Lab, reference: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(
        skopeo(lab.registry, "inspect", "--raw", f"docker://{lab.registry.host}/{REPO}{reference}")
    )
    return result


def test_sign_then_verify_by_key_and_read_back_with_skopeo(lab: Lab) -> None:
    signed = lab.run(
        "sign",
        lab.ref("v1"),
        "--key",
        str(lab.key),
        "--password",
        "env:HM_KEY_PASSWORD",
        "-a",
        "git=abc123",
        "--json",
    )
    assert signed.exit_code == 0, signed.output
    info = json.loads(signed.stdout)
    digest = lab.digests["v1"]
    assert info["image_digest"] == digest  # the tag was resolved: a signature names a digest
    manifest = _raw(lab, f":{signature_tag(digest)}")
    assert manifest["layers"][-1]["mediaType"] == SIMPLE_SIGNING_MEDIA_TYPE
    assert manifest["layers"][-1]["annotations"][ANNOTATION_SIGNATURE] == info["signature"]

    ok = lab.run("verify", lab.ref("v1"), "--key", str(lab.pub), "--json")
    assert ok.exit_code == 0, ok.output
    result = json.loads(ok.stdout)
    assert result["satisfied"] is True and result["verified_signers"] == [str(lab.pub)]
    assert result["signatures"][0]["annotations"] == {"git": "abc123"}

    constrained = lab.run("verify", lab.ref("v1"), "--key", str(lab.pub), "-a", "git=other")
    assert constrained.exit_code == 1
    assert "'git' is 'abc123', not 'other'" in constrained.stdout

    wrong = lab.run("verify", lab.ref("v1"), "--key", str(lab.other_pub))
    assert wrong.exit_code == 1
    assert "does not verify with any trusted key" in wrong.stdout

    both = lab.run("verify", lab.ref("v1"), "--key", str(lab.pub), "--key", str(lab.other_pub), "--all")
    assert both.exit_code == 1 and "no valid signature by" in both.stdout

    audit = [json.loads(line) for line in lab.run("audit", "export").stdout.splitlines() if line.strip()]
    record = next(r for r in audit if r.get("action") == "image.sign")
    assert record["details"]["digest"] == digest
    assert record["details"]["key_fingerprint"] == info["key_fingerprint"]


def test_an_unsigned_image_and_a_signature_copied_from_another_image_fail(lab: Lab) -> None:
    unsigned = lab.run("verify", lab.ref("v3"), "--key", str(lab.pub))
    assert unsigned.exit_code == 1 and "no signature found" in unsigned.stdout
    assert (
        lab.run("sign", lab.ref("v2"), "--key", str(lab.key), "--password", "env:HM_KEY_PASSWORD").exit_code
        == 0
    )
    # Copy v2's signature manifest to v3's signature tag, as an attacker with push rights could.
    source = f"docker://{lab.registry.host}/{REPO}:{signature_tag(lab.digests['v2'])}"
    target = f"docker://{lab.registry.host}/{REPO}:{signature_tag(lab.digests['v3'])}"
    skopeo(lab.registry, "copy", source, target)
    # The unsigned verdict above is cached for a minute; ask the registry again.
    copied = lab.run("verify", lab.ref("v3"), "--key", str(lab.pub), "--json", "--no-cache")
    assert copied.exit_code == 1
    check = json.loads(copied.stdout)["signatures"][0]
    assert check["verified"] is False and "copied from another image" in check["reason"]


def test_bad_input_is_exit_2_and_names_the_input(lab: Lab, tmp_path: Path) -> None:
    wrong_password = lab.run(
        "sign", lab.ref("v1"), "--key", str(lab.key), "--password", "env:HM_SIGN_LAB_SECRET"
    )
    assert wrong_password.exit_code == 2 and "password does not open" in wrong_password.stderr
    not_a_key = tmp_path / "x.key"
    not_a_key.write_text("hello")
    bad = lab.run("sign", lab.ref("v1"), "--key", str(not_a_key), "--password", "env:HM_KEY_PASSWORD")
    assert bad.exit_code == 2 and "not a cosign key file" in bad.stderr
    # harbourmaster's own master key is never read as a key file, whatever the path says.
    master_key = Path(os.environ["HARBOURMASTER_HOME"]) / "master.key"
    assert master_key.exists()
    master = lab.run("sign", lab.ref("v1"), "--key", str(master_key), "--password", "env:HM_KEY_PASSWORD")
    assert master.exit_code == 2 and "master.key" in master.stderr
    directory = lab.run("sign", lab.ref("v1"), "--key", str(tmp_path), "--password", "env:HM_KEY_PASSWORD")
    assert directory.exit_code == 2 and "not a regular file" in directory.stderr
    literal = lab.run("sign", lab.ref("v1"), "--key", str(lab.key), "--password", KEY_PASSWORD)
    assert literal.exit_code == 2 and "never an argument" in literal.stderr
    lab.outputs.remove(literal.stdout)  # the test itself put the password on the command line
    bad_annotation = lab.run(
        "sign", lab.ref("v1"), "--key", str(lab.key), "--password", "env:HM_KEY_PASSWORD", "-a", "novalue"
    )
    assert bad_annotation.exit_code == 2 and "KEY=VALUE" in bad_annotation.stderr
    unapproved = lab.run("verify", "elsewhere.example/app:v1", "--key", str(lab.pub))
    assert unapproved.exit_code == 2 and "no approved registry" in unapproved.stderr


def test_sign_blob_and_verify_blob_with_a_cosign_key_and_openssl(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blob = tmp_path / "bundle-manifest.json"
    blob.write_text('{"images": ["a", "b"]}')
    monkeypatch.setenv("HM_VECTOR_PASSWORD", "hello")
    vector_key = KEYS / "cosign-keystest-ecdsa-p256.sigstore-label.key"
    vector_pub = KEYS / "derived" / "cosign-keystest-ecdsa-p256.sigstore-label.pub"
    signed = lab.run(
        "sign-blob",
        str(blob),
        "--key",
        str(vector_key),
        "--password",
        "env:HM_VECTOR_PASSWORD",
        "--output-signature",
        str(tmp_path / "blob.sig"),
    )
    assert signed.exit_code == 0, signed.output
    signature = signed.stdout.strip()
    assert (tmp_path / "blob.sig").read_text() == signature
    assert openssl_verifies(vector_pub.read_text(), blob.read_bytes(), base64.b64decode(signature))

    ok = lab.run(
        "verify-blob", str(blob), "--signature", str(tmp_path / "blob.sig"), "--key", str(vector_pub)
    )
    assert ok.exit_code == 0 and "Verified OK" in ok.stdout
    inline = lab.run("verify-blob", str(blob), "--signature", signature, "--key", str(vector_pub), "--json")
    assert inline.exit_code == 0 and json.loads(inline.stdout)["verified"] is True
    blob.write_text('{"images": ["a", "b", "c"]}')
    changed = lab.run("verify-blob", str(blob), "--signature", signature, "--key", str(vector_pub))
    assert changed.exit_code == 1 and "FAILED" in changed.stdout
    garbage = lab.run("verify-blob", str(blob), "--signature", "@@@", "--key", str(vector_pub))
    assert garbage.exit_code == 1 and "not base64" in garbage.stdout
