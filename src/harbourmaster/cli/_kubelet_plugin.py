"""``harbourmaster credential-provider``, as the kubelet execs it: answer one pull from the server.

The console entry point (:mod:`harbourmaster.__main__`) comes here before importing the CLI, so a
pull pays only for the standard library and :mod:`~harbourmaster.deploy.kubernetes.credential_provider`:
no Typer, pydantic, httpx or YAML.  The request goes to ``POST /api/v1/environments/{env}/pull-credentials``
over HTTPS (``http.client``, verified against the configured CA file), authenticated by the node token
read from its file.  The settings come from the environment variables the kubelet's
``CredentialProviderConfig`` sets (:mod:`harbourmaster.domain.exports.credential_provider_config`).

Whatever fails, the kubelet gets exit 1 and one line on stderr (never the token or the password).
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import sys
from collections.abc import Mapping
from typing import Final
from urllib.parse import quote, urlsplit

from harbourmaster.deploy.kubernetes.credential_provider import run
from harbourmaster.domain.exports.credential_provider_config import (
    ENV_CA_FILE,
    ENV_ENVIRONMENT,
    ENV_SERVER_URL,
    ENV_TOKEN_FILE,
)
from harbourmaster.errors import BadInput, Error

__all__ = ["ServerFetch", "main"]

_TIMEOUT: Final = 10.0
_MAX_ANSWER_BYTES: Final = 64 * 1024
_NO_CREDENTIAL_NEEDED: Final = "no-credential-needed"


class ServerFetch:
    """The plugin's ``fetch``: one HTTPS POST to harbourmaster per pull."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        """Raises:
        BadInput: a variable is missing, the server URL is not https, or a file cannot be read.
        """
        url = _required(environ, ENV_SERVER_URL)
        environment = _required(environ, ENV_ENVIRONMENT)
        ca_file = _required(environ, ENV_CA_FILE)
        token_file = _required(environ, ENV_TOKEN_FILE)
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise BadInput(f"{ENV_SERVER_URL} {url!r}: give the server's https:// URL")
        self._host = parts.hostname
        self._port = parts.port or 443
        self._path = (
            f"{parts.path.rstrip('/')}/api/v1/environments/{quote(environment, safe='')}/pull-credentials"
        )
        try:
            with open(token_file, encoding="utf-8") as fh:
                token = fh.read().strip()
        except OSError as exc:
            raise BadInput(
                f"{ENV_TOKEN_FILE} {token_file}: cannot read the node token ({exc.strerror})"
            ) from None
        if not token:
            raise BadInput(f"{ENV_TOKEN_FILE} {token_file}: the node token file is empty")
        self._authorization = f"Bearer {token}"
        try:
            self._context = ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise BadInput(f"{ENV_CA_FILE} {ca_file}: cannot load the CA ({exc})") from None

    def __call__(self, image: str, service_account_token: str | None) -> tuple[str, str, int] | None:
        """Raises:
        BadInput: no service-account token (the config's tokenAttributes are missing).
        Error: the server refused (its problem's detail) or could not be reached.
        """
        if service_account_token is None:
            raise BadInput(
                "the kubelet sent no service-account token: set tokenAttributes in the "
                "CredentialProviderConfig (harbourmaster credential-provider config prints it)"
            )
        body = json.dumps({"image": image, "service_account_token": service_account_token}).encode()
        connection = http.client.HTTPSConnection(
            self._host, self._port, timeout=_TIMEOUT, context=self._context
        )
        try:
            connection.request(
                "POST",
                self._path,
                body=body,
                headers={
                    "Authorization": self._authorization,
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                    "User-Agent": "harbourmaster-credential-provider",
                },
            )
            response = connection.getresponse()
            answer = response.read(_MAX_ANSWER_BYTES + 1)
        except (OSError, http.client.HTTPException) as exc:
            raise _Unreachable(
                f"harbourmaster at https://{self._host}:{self._port} did not answer: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        finally:
            connection.close()
        if len(answer) > _MAX_ANSWER_BYTES:
            raise _Unreachable("harbourmaster's answer is larger than a credential")
        try:
            document = json.loads(answer)
        except ValueError:
            document = None
        if response.status != 200:
            problem = document if isinstance(document, dict) else {}
            if response.status == 404 and str(problem.get("type", "")).endswith(_NO_CREDENTIAL_NEEDED):
                return None
            detail = problem.get("detail") or response.reason
            raise _Refused(f"harbourmaster refused the credential ({response.status}): {detail}")
        if not isinstance(document, dict):
            raise _Unreachable("harbourmaster answered a credential that is not a JSON object")
        username, password, ttl = (document.get(k) for k in ("username", "password", "expires_in"))
        if not isinstance(username, str) or not isinstance(password, str) or not isinstance(ttl, int):
            raise _Unreachable(
                "harbourmaster answered a credential without username, password and expires_in"
            )
        return username, password, ttl


class _Refused(Error):
    """The server answered with a problem: the image is denied, a token refused, ..."""

    kind = "credential-refused"


class _Unreachable(Error):
    """The server did not answer, or not with a credential."""

    kind = "credential-server-unreachable"


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise BadInput(f"{name} is not set: the kubelet's CredentialProviderConfig sets it (env)")
    return value


def main() -> int:
    """Answer the kubelet's request on stdin; the exit code."""
    try:
        fetch = ServerFetch(os.environ)
    except Error as exc:
        sys.stderr.write(f"harbourmaster credential-provider: {exc.message}\n")
        return 1
    return run(sys.stdin.buffer, sys.stdout.buffer, fetch)
