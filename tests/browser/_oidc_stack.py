"""The OpenID Connect browser tests' stack: the stand-in OpenID provider (tests/web/oidc_standin.py), run
in a thread and recording what it was sent, and a real ``harbourmaster serve`` on SQLite that signs in
with it.

The stand-in listens on 127.0.0.1 but names itself ``http://localhost:PORT``: to the browser the issuer is
then another site than the UI (``http://127.0.0.1:PORT``), as a real provider is, so the sign-in takes
the cross-site hops the UI's cookies are made for (the pending sign-in's SameSite=Lax cookie must come
back from the issuer's redirect; the session's SameSite=Strict cookie must still be set and used).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.components import running_serve
from tests.web.oidc_standin import OidcStandIn, _Grant

CLIENT_ID = "harbourmaster-ui"
#: The client secret: a canary that must appear in no page, response, header or audit record.
CLIENT_SECRET = "canary-oidc-browser-secret-7Qm2xW9v"
#: The issuer's host name as the browser and the server see it (it resolves to 127.0.0.1).
ISSUER_HOST = "localhost"

GOVERNANCE = """\
apiVersion: harbourmaster.io/v1
kind: Governance
environments:
  - name: dev-k8s
    kind: kubernetes
    tier: development
    namespaces: [team]
users:
  - {name: admin, role: administrator}
  - {name: platform, role: platform-engineer}
  - {name: auditor, role: auditor}
  - {name: dev, role: team-member}
teams:
  - {name: team, members: [dev]}
access:
  - {environment: dev-k8s, team: team}
"""


@dataclass(frozen=True)
class AuthorizeSeen:
    """One request to the stand-in's authorization endpoint (the browser's)."""

    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str
    code_challenge_method: str
    has_state: bool
    has_nonce: bool


@dataclass(frozen=True)
class TokenSeen:
    """One request to the stand-in's token endpoint (the server's): how the client authenticated,
    whether the secret was the right one, the PKCE method of the code's grant and whether the verifier
    sent hashes (S256) to the challenge the browser brought, and the stand-in's answer."""

    auth_method: str
    secret_matches: bool
    challenge_method: str | None
    verifier_sent: bool
    verifier_matches_s256: bool
    outcome: str


@dataclass
class RecordingStandIn(OidcStandIn):
    """The stand-in, naming itself by :data:`ISSUER_HOST` and keeping a log of what it was sent."""

    host: str = ISSUER_HOST
    authorize_log: list[AuthorizeSeen] = field(default_factory=list)
    token_log: list[TokenSeen] = field(default_factory=list)
    #: Every ID token it issued (tampered or not): none may reach the browser.
    issued: list[str] = field(default_factory=list)

    @property
    def issuer(self) -> str:
        assert self._server is not None
        return f"http://{self.host}:{self._server.server_address[1]}"

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str]]:
        self.authorize_log.append(AuthorizeSeen(
            client_id=query.get("client_id", ""), redirect_uri=query.get("redirect_uri", ""),
            scope=query.get("scope", ""), code_challenge=query.get("code_challenge", ""),
            code_challenge_method=query.get("code_challenge_method", ""),
            has_state=bool(query.get("state")), has_nonce=bool(query.get("nonce"))))
        return super().authorize(query)

    def token(self, form: dict[str, str], authorization: str | None) -> tuple[int, dict[str, object]]:
        method, secret_matches = self._client_auth(form, authorization)
        grant: _Grant | None = self._grants.get(form.get("code", ""))
        verifier = form.get("code_verifier", "")
        s256 = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        before = len(self.token_requests)
        answer = super().token(form, authorization)
        outcome = self.token_requests[-1][1] if len(self.token_requests) > before else "?"
        self.token_log.append(TokenSeen(
            auth_method=method, secret_matches=secret_matches,
            challenge_method=grant.method if grant else None, verifier_sent=bool(verifier),
            verifier_matches_s256=grant is not None and bool(verifier) and s256 == grant.challenge,
            outcome=outcome))
        return answer

    def id_token(self, grant: _Grant) -> str:
        token = super().id_token(grant)
        self.issued.append(token)
        return token

    def reset(self) -> None:
        """Back to the defaults: the platform engineer, an untampered token for this client."""
        self.user, self.tamper, self.audience, self.lifetime = "platform", False, None, 300
        self.sign_with_other_key = False


@dataclass
class OidcStack:
    base: str
    pid: int
    home: Path
    env: dict[str, str]
    standin: RecordingStandIn

    def url(self, path: str) -> str:
        return self.base + path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "harbourmaster", *args], env=self.env,
                                capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise AssertionError(f"harbourmaster {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def sign_ins(self) -> list[dict[str, object]]:
        """The ``web.sign-in`` audit records, from ``harbourmaster audit export``."""
        records = []
        for line in self.cli("audit", "export", "--no-checkpoint").stdout.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("action") == "web.sign-in":
                records.append(record)
        return records


@contextlib.contextmanager
def oidc_stack(root: Path) -> Iterator[OidcStack]:
    """The stand-in (in a thread) and ``harbourmaster serve`` configured with it as the issuer; both
    stopped at the end (the server by its process id, the stand-in's thread shut down)."""
    standin = RecordingStandIn(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, now=time.time)
    standin.start()
    try:
        home = root / "home"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("HARBOURMASTER_") and not k.startswith("HM_")}
        env.update(HARBOURMASTER_HOME=str(home), HARBOURMASTER_AUDIT_CHECKPOINT_INTERVAL="0",
                   HARBOURMASTER_OIDC_ISSUER=standin.issuer, HARBOURMASTER_OIDC_CLIENT_ID=CLIENT_ID,
                   HARBOURMASTER_OIDC_CLIENT_SECRET=CLIENT_SECRET,
                   HARBOURMASTER_OIDC_USERNAME_CLAIM="preferred_username")
        doc = root / "governance.yaml"
        doc.write_text(GOVERNANCE)
        stack = OidcStack(base="", pid=0, home=home, env=env, standin=standin)
        stack.cli("init")
        stack.cli("apply", "-f", str(doc))
        with running_serve(env) as (base, pid):
            stack.base, stack.pid = base, pid
            yield stack
    finally:
        standin.stop()


def session_payload(value: str) -> dict[str, object]:
    """The (signed, not encrypted) payload of an itsdangerous cookie value, read without its key."""
    compressed = value.startswith(".")
    data = value.removeprefix(".").split(".")[0]
    raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    decoded: dict[str, object] = json.loads(zlib.decompress(raw) if compressed else raw)
    return decoded
