"""The composition root: the one place that chooses harbourmaster's real backends.

:func:`build` makes a :class:`~harbourmaster.services.core.Harbourmaster` from
:class:`~harbourmaster.settings.Settings`: the SQL store on
``HARBOURMASTER_DATABASE_URL`` (SQLite in the data directory by default), the
vault over the data directory's master keys, registry clients over httpx, the
system clock, and the vulnerability webhook when
``HARBOURMASTER_VULN_WEBHOOK_URL`` is set.  Every surface gets its core from here
(``Harbourmaster.from_environ`` delegates to it); tests that want a real store
but a fixed clock or a mock registry transport pass those parts.

Like :mod:`harbourmaster.settings` this module sits outside the layers: it
imports the core and the adapters, and nothing but the surfaces imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harbourmaster.clock import Clock, SystemClock
from harbourmaster.notify.disabled import DisabledNotifier
from harbourmaster.notify.interface import Notifier, NotifyError
from harbourmaster.notify.webhook import WebhookNotifier
from harbourmaster.services.core import Harbourmaster
from harbourmaster.settings import Settings
from harbourmaster.store.database import Database
from harbourmaster.store.sql import SqlStore
from harbourmaster.vault.local import KeyFileVault

if TYPE_CHECKING:
    from harbourmaster.deploy._engine_tls import EngineTls
    from harbourmaster.deploy.interface import DeploymentTarget, KubernetesCluster, SwarmEngine, TargetAccess
    from harbourmaster.domain.secret import Secret
    from harbourmaster.identity.interface import IdentityHttp
    from harbourmaster.registry import ClientOptions, CredentialProvider, RegistryClient, RegistryEndpoint
    from harbourmaster.registry.harbor_api import HarborApi
    from harbourmaster.registry.interface import RegistryClientFactory

__all__ = ["EngineConnectors", "build", "notifier_for"]


class _RegistryClientsAtFirstUse:
    """The real registry-client factory, loaded when a registry is first talked to: a command that
    never does (``check --no-resolve``, ``token list``) does not load the client or httpx."""

    def __init__(self) -> None:
        self._factory: RegistryClientFactory | None = None

    def __repr__(self) -> str:
        return "HttpxClientFactory(transport=network, loaded at first use)"

    def _real(self) -> RegistryClientFactory:
        if self._factory is None:
            from harbourmaster.registry.factory import HttpxClientFactory

            self._factory = HttpxClientFactory()
        return self._factory

    def client(
        self,
        endpoint: RegistryEndpoint,
        *,
        provider: CredentialProvider | None = None,
        options: ClientOptions | None = None,
        development_only: bool = False,
    ) -> RegistryClient:
        return self._real().client(
            endpoint, provider=provider, options=options, development_only=development_only
        )

    def harbor_api(
        self, endpoint: RegistryEndpoint, *, username: str, password: Secret, development_only: bool = False
    ) -> HarborApi:
        return self._real().harbor_api(
            endpoint, username=username, password=password, development_only=development_only
        )

    async def resolve_host(self, host: str, port: int) -> None:
        await self._real().resolve_host(host, port)


def notifier_for(settings: Settings, *, alerts: bool = False) -> Notifier:
    """The vulnerability webhook of ``settings`` (``alerts``: the credential alert webhook), or a notifier
    that sends nothing when none is set.

    Raises:
        NotifyError: ``HARBOURMASTER_VULN_WEBHOOK_URL`` (``HARBOURMASTER_CREDENTIAL_WEBHOOK_URL``) is not an
            absolute http(s) URL.
    """
    url = settings.credential_webhook_url if alerts else settings.vuln_webhook_url
    name = "HARBOURMASTER_CREDENTIAL_WEBHOOK_URL" if alerts else "HARBOURMASTER_VULN_WEBHOOK_URL"
    if not url:
        return DisabledNotifier()
    try:
        return WebhookNotifier(url)
    except NotifyError as exc:
        raise NotifyError(f"invalid setting: {name}: {exc.message}") from None


def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    registry_clients: RegistryClientFactory | None = None,
    notifier: Notifier | None = None,
) -> Harbourmaster:
    """The real core for ``settings``; ``clock``, ``registry_clients`` and ``notifier`` replace the
    system clock, the network and the configured webhook (tests and benchmarks).

    Nothing is opened yet: the database connects, and the master key is read, at first use.

    Raises:
        StoreError: the database URL is not usable.
        NotifyError: the webhook URL is not an absolute http(s) URL.
    """
    clock = clock or SystemClock()
    return Harbourmaster(
        settings,
        store=SqlStore(Database(settings.database_url), clock=clock),
        vault=KeyFileVault(settings.home, settings.environ),
        registry_clients=registry_clients or _RegistryClientsAtFirstUse(),
        clock=clock,
        notifier=notifier or notifier_for(settings),
        targets=EngineConnectors(),
        alert_notifier=notifier_for(settings, alerts=True),
        identity_http=_identity_http(settings),
    )


def _identity_http(settings: Settings) -> IdentityHttp | None:
    """HTTP to the OpenID provider, when one is configured (httpx loads only then)."""
    if not settings.oidc_issuer:
        return None
    from harbourmaster.identity.http import HttpxIdentityHttp

    return HttpxIdentityHttp()


class EngineConnectors:
    """The real deployment targets: the Docker SDK and the official Kubernetes client, each imported
    at its first use (CLI start-up stays fast)."""

    def __repr__(self) -> str:
        return "EngineConnectors()"

    def docker(self, access: TargetAccess) -> DeploymentTarget:
        from harbourmaster.deploy.docker_engine import DockerEngineTarget

        return DockerEngineTarget.connect(access.address, tls=_engine_tls(access))

    def swarm(self, access: TargetAccess) -> SwarmEngine:
        from harbourmaster.deploy.swarm_engine import SwarmTarget

        return SwarmTarget.connect(access.address, tls=_engine_tls(access))

    def kubernetes(self, access: TargetAccess) -> KubernetesCluster:
        from harbourmaster.deploy.kubernetes.jit_secrets import KubernetesTarget

        return KubernetesTarget.connect(
            access.address,
            token=access.token,
            ca_pem=access.ca_pem,
            client_cert_pem=access.client_cert_pem,
            client_key_pem=access.client_key_pem,
            insecure_skip_tls_verify=access.insecure,
        )


def _engine_tls(access: TargetAccess) -> EngineTls | None:
    from harbourmaster.deploy._engine_tls import EngineTls

    if access.ca_pem is None and access.client_cert_pem is None:
        return None
    return EngineTls(
        ca_pem=access.ca_pem, client_cert_pem=access.client_cert_pem, client_key_pem=access.client_key_pem
    )
