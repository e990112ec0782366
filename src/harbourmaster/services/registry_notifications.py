"""The secret a registry's event notifications authenticate with, and the snippet that configures them.

Each registry that sends harbourmaster its push and pull events (the CNCF distribution registry's
``notifications.endpoints``) has its own secret: generated here (``secrets.token_urlsafe(32)``),
sealed by the vault for that registry (record: the registry's name, field ``event_secret``, bound to
the registry's origin, so the sealed blob opens for no other registry and not once the registry has
moved), and kept beside the registry's other sealed blobs.  It is write-only: it is shown once, in
the configuration snippet that :func:`create_notification_secret` answers, and never again (to
change it, rotate it).

The registry sends it as ``Authorization: Bearer <secret>``; :func:`authenticate_registry_events`
checks it in constant time before the request's body is read, and audits every refusal (the secret
never is).
"""

from __future__ import annotations

import secrets
from typing import Literal

import yaml
from pydantic import BaseModel

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.model import Role
from harbourmaster.domain.secret import Secret
from harbourmaster.errors import BadInput, Conflict, Forbidden, Unauthenticated
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.registry_scope import named_registry
from harbourmaster.vault.interface import SealedSecret, VaultError

__all__ = [
    "EVENT_SECRET_FIELD",
    "REGISTRY_ACTOR_PREFIX",
    "NotificationSnippetPublic",
    "authenticate_registry_events",
    "create_notification_secret",
    "registry_actor",
    "registry_of_actor",
    "require_registry_principal",
]

#: The field a registry's event secret is sealed for.
EVENT_SECRET_FIELD = "event_secret"
#: Actors that are a registry reporting its events (``registry:<name>``): never a user's name, which
#: cannot contain ``:``.
REGISTRY_ACTOR_PREFIX = "registry:"
#: Blob events (layers) are of no interest: the registry need not send them.
IGNORED_MEDIA_TYPES = ("application/octet-stream",)
_UNAUTHENTICATED = (
    "a registry event needs its registry's notification secret (Authorization: Bearer <secret>)"
)


def registry_actor(registry: str) -> str:
    """The actor a registry's events (and the jobs they start) are recorded under."""
    return f"{REGISTRY_ACTOR_PREFIX}{registry}"


def registry_of_actor(actor: str) -> str | None:
    """The registry an actor of :func:`registry_actor` names, or None for any other actor."""
    if actor.startswith(REGISTRY_ACTOR_PREFIX):
        return actor.removeprefix(REGISTRY_ACTOR_PREFIX) or None
    return None


class NotificationSnippetPublic(BaseModel):
    """The registry configuration that sends harbourmaster a registry's events.  It holds the secret:
    it is answered once, when the secret is created or rotated."""

    registry: str
    url: str
    header: Literal["Authorization"] = "Authorization"
    rotated: bool
    config: str
    """The ``notifications`` section to paste into the registry's ``config.yml``."""


def _snippet(*, url: str, secret: Secret) -> str:
    endpoint = {
        "name": "harbourmaster",
        "url": url,
        "headers": {"Authorization": [f"Bearer {secret.reveal()}"]},
        "timeout": "5s",
        "threshold": 5,
        "backoff": "10s",
        "ignoredmediatypes": list(IGNORED_MEDIA_TYPES),
    }
    return yaml.safe_dump({"notifications": {"endpoints": [endpoint]}}, sort_keys=False)


def create_notification_secret(hm: Harbourmaster, principal: Principal, registry: str, *, base_url: str,
                               rotate: bool = False) -> NotificationSnippetPublic:
    """Generate registry ``registry``'s notification secret (``rotate``: replace the one it has) and
    answer the registry configuration that sends its events to ``base_url``; audited as
    ``registry.notifications`` (without the secret).

    Raises:
        Forbidden: ``principal`` may not change the governance model.
        NotFound: no such registry (naming the nearest name).
        BadInput: ``base_url`` is not an http(s) URL.
        Conflict: the registry has a secret already and ``rotate`` is not given (it is write-only).
    """
    require(principal, Permission.GOVERNANCE_WRITE)
    reg = named_registry(hm, registry)
    base = base_url.rstrip("/")
    if not base.startswith(("http://", "https://")) or any(c.isspace() for c in base):
        raise BadInput(f"--url {base_url!r} is not an http(s) URL of harbourmaster's API")
    url = f"{base}/api/v1/registry-events/{reg.name}"
    secret = Secret(secrets.token_urlsafe(32))
    sealed = hm.vault.seal(secret, record=reg.name, field=EVENT_SECRET_FIELD, origin=reg.credential_origin)
    with hm.store.transaction() as tx:
        had = tx.governance.event_secret(reg.name) is not None
        if had and not rotate:
            raise Conflict(
                f"registry {reg.name} already has a notification secret; it is write-only and shown only "
                "when it is created or rotated: give --rotate to replace it (then update the registry's "
                "config.yml with the new snippet: the old secret stops working at once)")
        tx.governance.set_event_secret(reg.name, sealed.to_bytes())
        tx.audit.append(actor=principal.audit_name, action="registry.notifications", target=reg.name,
                        details={"url": url, "rotated": had})
    return NotificationSnippetPublic(registry=reg.name, url=url, rotated=had,
                                     config=_snippet(url=url, secret=secret))


def authenticate_registry_events(hm: Harbourmaster, registry: str, presented: Secret | None, *,
                                 source: str | None) -> Principal:
    """The principal of registry ``registry`` reporting its events, when ``presented`` is its
    notification secret (compared in constant time).  A refusal is audited as
    ``registry.event.unauthenticated`` with the source address (never what was presented).

    Raises:
        Unauthenticated: no such registry, no secret made for it, or another secret (one message for
            all, so the answer does not tell which registries exist).
    """
    reg = hm.snapshot().registries.get(registry)
    expected: Secret | None = None
    reason = "unknown registry"
    if reg is not None:
        with hm.store.read() as tx:
            blob = tx.governance.event_secret(reg.name)
        reason = "no notification secret"
        if blob is not None:
            try:
                expected = hm.vault.open(SealedSecret.from_bytes(blob), record=reg.name,
                                         field=EVENT_SECRET_FIELD, origin=reg.credential_origin)
            except VaultError:
                reason = "the notification secret does not open (the registry moved: rotate it)"
    # Compared whatever was found, so the time taken says little about which case this is.
    against = expected if expected is not None else Secret(secrets.token_urlsafe(32))
    if presented is not None and against.equals(presented) and expected is not None:
        return Principal(registry_actor(registry), Role.TEAM_MEMBER)
    if expected is not None:
        reason = "wrong secret" if presented is not None else "no secret presented"
    with hm.store.transaction() as tx:
        tx.audit.append(actor=registry_actor(registry)[:200], action="registry.event.unauthenticated",
                        target=registry[:200], result="refused", details={"reason": reason, "source": source})
    raise Unauthenticated(_UNAUTHENTICATED)


def require_registry_principal(principal: Principal, registry: str) -> None:
    """Raises:
    Forbidden: ``principal`` is not registry ``registry`` reporting its own events.
    """
    require(principal, Permission.GOVERNANCE_READ)
    if registry_of_actor(principal.name) != registry:
        raise Forbidden(f"{principal.name} may not report events of registry {registry}")
