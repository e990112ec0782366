"""A governance model and a table of tricky images, shared by the tests of every exported policy: each
export must give the same allow/deny answer as :func:`harbourmaster.domain.decision.decide`."""

from __future__ import annotations

import datetime as dt

from harbourmaster.domain.decision import GovernanceSnapshot, Tenant, decide
from harbourmaster.domain.matching import parse_registry_location
from harbourmaster.domain.model import (
    ANONYMOUS_DOCKERHUB,
    CredentialInfo,
    CredentialKind,
    Environment,
    EnvironmentKind,
    Provider,
    Registry,
    RegistryGrant,
    Tier,
    TlsSettings,
)

TODAY = dt.date(2026, 6, 1)
DIGEST = "sha256:" + "a" * 64
DIGEST512 = "sha512:" + "b" * 128


def _registry(name: str, url: str, scope: str | None = None, **kwargs: object) -> Registry:
    return Registry(
        name=name, provider=Provider.CUSTOM, url=url, location=parse_registry_location(url, scope), **kwargs
    )  # type: ignore[arg-type]


REGISTRIES = (
    _registry("payments", "https://harbor.corp", "payments"),
    _registry("payments-team", "https://harbor.corp", "payments/team"),
    _registry("web-443", "https://harbor.corp:443", "web"),
    _registry("ecr", "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
    _registry("v6", "https://[::1]:5000", "a/b"),
    _registry(
        "expired",
        "https://old.corp",
        credential=CredentialInfo(CredentialKind.ROBOT, "robot", dt.date(2026, 1, 1), True),
    ),
    _registry("hub-library", "https://docker.io", "library"),
    _registry("hub-nginx", "https://index.docker.io", "library/nginx"),
    _registry("hub-bitnami", "https://registry-1.docker.io", "bitnami"),
    _registry("hub-all", "https://docker.io"),
    _registry("local", "http://localhost:5000", tls=TlsSettings(insecure=True)),
    _registry("bare-localhost", "https://localhost"),
    Registry(
        name=ANONYMOUS_DOCKERHUB,
        provider=Provider.DOCKERHUB_ANONYMOUS,
        url="https://docker.io",
        location=parse_registry_location("https://docker.io"),
        builtin=True,
    ),
)

ENVIRONMENTS = (
    Environment(
        "prod",
        EnvironmentKind.KUBERNETES,
        Tier.PRODUCTION,
        namespaces=("payments", "web", "empty", "hub"),
        hide_dockerhub_anonymous=True,
    ),
    Environment(
        "dev",
        EnvironmentKind.KUBERNETES,
        Tier.DEVELOPMENT,
        namespaces=("library", "nginx", "bitnami", "all", "local"),
        hide_dockerhub_anonymous=True,
    ),
    Environment("dev-open", EnvironmentKind.KUBERNETES, Tier.DEVELOPMENT, namespaces=("sandbox",)),
)

GRANTS = (
    RegistryGrant("payments", "prod", namespace="payments"),
    RegistryGrant("ecr", "prod", namespace="payments"),
    RegistryGrant("v6", "prod", namespace="payments"),
    RegistryGrant("payments-team", "prod", namespace="web"),
    RegistryGrant("web-443", "prod", namespace="web"),
    RegistryGrant("expired", "prod", namespace="web"),
    RegistryGrant("hub-library", "prod", namespace="hub"),  # public: unusable on production
    RegistryGrant("hub-library", "dev", namespace="library"),
    RegistryGrant("hub-nginx", "dev", namespace="nginx"),
    RegistryGrant("hub-bitnami", "dev", namespace="bitnami"),
    RegistryGrant("hub-all", "dev", namespace="all"),
    RegistryGrant("local", "dev", namespace="local"),
    RegistryGrant("bare-localhost", "dev", namespace="local"),
)


def snapshot() -> GovernanceSnapshot:
    return GovernanceSnapshot.build(
        revision=1,
        registries=REGISTRIES,
        environments=ENVIRONMENTS,
        users=(),
        teams=(),
        access=(),
        grants=GRANTS,
        hide_dockerhub_anonymous=False,
        today=TODAY,
    )


#: Images written to slip past a prefix match, a case-sensitive match, a normaliser, or a grammar.
IMAGES = (
    # the plain cases
    "harbor.corp/payments/api:1.4",
    "harbor.corp/payments/api",
    f"harbor.corp/payments/api@{DIGEST}",
    f"harbor.corp/payments/api:1.4@{DIGEST}",
    f"harbor.corp/payments/api@{DIGEST512}",
    "harbor.corp/payments/team/x:1",
    "harbor.corp/payments:1",  # the scope itself is a repository
    "harbor.corp/payments",
    # prefix tricks
    "harbor.corp/payments-evil/x",
    "harbor.corp/payments.evil/x",
    "harbor.corp/payments_evil/x",
    "harbor.corp/paymentsx/api",
    "harbor.corp/pay/ments/x",
    "harbor.corp.evil.io/payments/x",
    "evil.io/harbor.corp/payments/x",
    "harbor.corpx/payments/x",
    "xharbor.corp/payments/x",
    "harbor-corp/payments/x",
    # case
    "HARBOR.CORP/payments/x",
    "Harbor.Corp/payments/x:V1",
    "harbor.corp/Payments/x",
    "harbor.corp/payments/X",
    # ports and host confusion
    "harbor.corp:443/payments/x",
    "harbor.corp:443/web/x",
    "HARBOR.CORP:443/web/x",
    "harbor.corp/web/x",
    "harbor.corp:0443/web/x",
    "harbor.corp:/web/x",
    "harbor.corp:443:1/web/x",
    "harbor.corp:abc/web/x",
    "user@harbor.corp/payments/x",
    "harbor.corp@evil.io/payments/x",
    "[::1]:5000/a/b/c",
    "[::1]:5000/a/bc",
    "[::1]:5000/a/b",
    "[::1]/a/b/c",
    "[::1:5000/a/b/c",
    "[::1]x/a/b/c",
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1",
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.io/app:1",
    # digests and tags
    "harbor.corp/payments/x@sha256:abc",
    f"harbor.corp/payments/x@{DIGEST.upper()}",
    f"harbor.corp/payments/x@sha384:{'c' * 96}",
    f"harbor.corp/payments/x@@{DIGEST}",
    "harbor.corp/payments/x:t@g",
    "harbor.corp/payments/x:",
    "harbor.corp/payments/x@",
    "harbor.corp/payments/x:-bad",
    "harbor.corp/payments/x:" + "t" * 128,
    "harbor.corp/payments/x:" + "t" * 129,
    "harbor.corp/payments/x:1:2",
    f"harbor.corp/payments/x:v1@{DIGEST}@{DIGEST}",
    # path grammar
    "harbor.corp/payments/../x",
    "harbor.corp/payments/./x",
    "harbor.corp/payments//x",
    "harbor.corp//payments/x",
    "harbor.corp/payments/x/",
    "/harbor.corp/payments/x",
    "harbor.corp/payments/-x",
    "harbor.corp/payments/x--y",
    "harbor.corp/payments/x__y",
    "harbor.corp/payments/x___y",
    "harbor.corp/payments/x..y",
    "harbor.corp/payments/a+b",
    " harbor.corp/payments/x",
    "harbor.corp/payments/x ",
    "harbor.corp/payments/x\n",
    "harbor.corp/payments/é",
    "harbor.corp/payments/" + "x" * 240,
    "",
    # Docker Hub
    "nginx",
    "nginx:1.25",
    f"nginx@{DIGEST}",
    "library/nginx",
    "docker.io/nginx",
    "docker.io/library/nginx:1",
    "index.docker.io/library/nginx",
    "INDEX.DOCKER.IO/nginx",
    "registry-1.docker.io/nginx",
    "registry.hub.docker.com/library/nginx",
    "registry-1.docker.io:443/library/nginx",
    "docker.io:443/library/nginx",
    "nginx-evil",
    "nginxx:1",
    "library/nginx/sub",
    "library/nginx-evil",
    "bitnami/redis:7",
    "docker.io/bitnami/redis",
    "bitnami",
    "bitnami-evil/redis",
    "Bitnami/redis",
    "someone/tool",
    "docker.io/someone/tool",
    "a" * 64,
    "a" * 64 + ":1",
    f"{'a' * 64}@{DIGEST}",
    "docker.io/" + "a" * 64,
    "sha256:" + "a" * 64,
    # localhost
    "localhost/x",
    "localhost:5000/x",
    "LOCALHOST/x",
    "LOCALHOST:5000/x",
    "localhost:5001/x",
    "localhosts/x",
    "localhos/x",
    "localhost",
    "localhost:1",
    "127.0.0.1:5000/x",
    "old.corp/x",
)


def source_allowed(environment: str, namespace: str, image: str) -> bool:
    """harbourmaster's own answer."""
    (decision,) = decide(
        snapshot(), environment=environment, tenant=Tenant(namespace=namespace), images=[image]
    )
    return decision.allowed


#: Every (environment, namespace) of the model.
TENANTS = tuple((env.name, ns) for env in ENVIRONMENTS for ns in env.namespaces)
