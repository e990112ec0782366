"""API tokens: created for a user (or a Kubernetes node), shown once, stored only as a SHA-256 hash.

A node token (:func:`issue_node_token`) belongs to no user: it names a node and the one Kubernetes
environment whose pull credentials its kubelet credential provider may ask for, and acts with the
:class:`~harbourmaster.domain.authz.NodeRole` ``node`` (see :mod:`harbourmaster.domain.authz`).

Every token expires: after :data:`DEFAULT_TOKEN_LIFETIME` unless its creator
chose another lifetime, up to :data:`~harbourmaster.domain.durations.MAX_TOKEN_LIFETIME`.
A token can be revoked at any time.  Every use is audited under the token's
id (``token.use``), refused uses of a known token included, and the time of
the last successful use (to the minute) is kept on the token for ``token list``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass, replace
from typing import Final

from harbourmaster.domain.authz import NodeRole, Permission, Principal, require
from harbourmaster.domain.durations import (
    MAX_TOKEN_LIFETIME,
    DurationError,
    describe_duration,
    parse_duration,
)
from harbourmaster.domain.model import EnvironmentKind
from harbourmaster.domain.secret import Secret
from harbourmaster.domain.spelling import did_you_mean
from harbourmaster.errors import BadInput, NotFound, Unauthenticated
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.results import TokenInfoPublic
from harbourmaster.store.values import StoredToken

__all__ = [
    "DEFAULT_TOKEN_LIFETIME",
    "MIN_TOKEN_LIFETIME",
    "IssuedToken",
    "TokenInfo",
    "authenticate",
    "create_token",
    "issue_node_token",
    "issue_token",
    "list_tokens",
    "parse_token_lifetime",
    "revoke_token",
]

#: The lifetime of a token whose creator did not choose one.
DEFAULT_TOKEN_LIFETIME: Final = dt.timedelta(days=90)
#: The shortest lifetime a token may be given.
MIN_TOKEN_LIFETIME: Final = dt.timedelta(hours=1)

_PREFIX = "hm_"
# Issued tokens are 46 characters; anything much longer is not one of ours
# and is not worth hashing.
_MAX_TOKEN_LENGTH = 256
_NAME_MAX_LENGTH = 128
# ``last_used_at`` is rewritten at most this often (the audit log has every use's time):
# most requests then skip the UPDATE.
_LAST_USED_PRECISION = dt.timedelta(minutes=1)
#: A Kubernetes node's name: a DNS subdomain (RFC 1123), as the API server requires.
_NODE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NODE_NAME_MAX_LENGTH = 253
#: The audit actor and principal name of a node token.
NODE_ACTOR_PREFIX: Final = "node:"


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedToken:
    id: int
    #: None for a node token, which names its node and environment instead.
    user: str | None
    name: str
    token: Secret
    expires_at: dt.datetime
    node: str | None = None
    environment: str | None = None


#: What may be known about a token (one model with the API and ``token list --json``).
TokenInfo = TokenInfoPublic


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _info(tok: StoredToken, now: dt.datetime) -> TokenInfo:
    return TokenInfo(
        id=tok.id,
        user=tok.user,
        name=tok.name,
        created_at=tok.created_at,
        expires_at=tok.expires_at,
        revoked=tok.revoked,
        expired=tok.expires_at < now,
        last_used_at=tok.last_used_at,
        node=tok.node,
        environment=tok.environment,
    )


def parse_token_lifetime(text: str, *, field: str = "--expires-in") -> dt.timedelta:
    """A token lifetime as written on the command line (``30d``, ``12w``, ``8h``).

    Raises:
        DurationError: (a BadInput) not a duration, shorter than an hour or longer than 10 years.
    """
    return parse_duration(text, field=field, maximum=MAX_TOKEN_LIFETIME, minimum=MIN_TOKEN_LIFETIME)


def _check_lifetime(lifetime: dt.timedelta) -> None:
    if not MIN_TOKEN_LIFETIME <= lifetime <= MAX_TOKEN_LIFETIME:
        raise DurationError(
            f"token lifetime: must be from {describe_duration(MIN_TOKEN_LIFETIME)} "
            f"to {describe_duration(MAX_TOKEN_LIFETIME)}"
        )


def issue_token(
    hm: Harbourmaster, principal: Principal, *, user: str, name: str, lifetime: dt.timedelta | None = None
) -> IssuedToken:
    """Issue a bearer token for ``user`` on ``principal``'s behalf (``token create``, ``POST /tokens``).

    Raises:
        Forbidden: the principal may not create tokens.
        NotFound / BadInput: as :func:`create_token`.
    """
    require(principal, Permission.TOKEN_CREATE)
    return create_token(hm, user=user, name=name, actor=principal.audit_name, lifetime=lifetime)


def issue_node_token(
    hm: Harbourmaster,
    principal: Principal,
    *,
    node: str,
    environment: str,
    name: str | None = None,
    lifetime: dt.timedelta | None = None,
) -> IssuedToken:
    """Issue a token for Kubernetes ``node`` of ``environment``: it may only ask for that
    environment's pull credentials (``POST /environments/{environment}/pull-credentials``).

    ``name`` defaults to the node's name; ``lifetime`` to :data:`DEFAULT_TOKEN_LIFETIME`.

    Raises:
        Forbidden: the principal may not create tokens.
        NotFound: no such environment (naming the closest).
        BadInput: the environment is not Kubernetes, the node's name is not a DNS subdomain, or the
            name or lifetime are out of bounds (as :func:`create_token`).
    """
    require(principal, Permission.TOKEN_CREATE)
    lifetime = DEFAULT_TOKEN_LIFETIME if lifetime is None else lifetime
    _check_lifetime(lifetime)
    if len(node) > _NODE_NAME_MAX_LENGTH or not _NODE_NAME.match(node):
        raise BadInput(
            f"node name {node[:80]!r}: must be a Kubernetes node name (lowercase letters, digits, "
            f"'-' and '.', at most {_NODE_NAME_MAX_LENGTH})"
        )
    name = node if name is None else name
    if not name or len(name) > _NAME_MAX_LENGTH:
        raise BadInput(f"token name: must be 1 to {_NAME_MAX_LENGTH} characters, not {len(name)}")
    snapshot = hm.snapshot()
    env = snapshot.environments.get(environment)
    if env is None:
        closest = did_you_mean(environment, snapshot.environments)
        raise NotFound(f"environment {environment} is not defined{closest}")
    if env.kind is not EnvironmentKind.KUBERNETES:
        raise BadInput(
            f"environment {environment} is {env.kind.value}: node tokens are for the kubelets of a "
            "Kubernetes environment"
        )
    token = _PREFIX + secrets.token_urlsafe(32)
    now = hm.clock.now()
    expires = now + lifetime
    with hm.store.transaction() as tx:
        token_id = tx.tokens.create_node(
            node=node, environment=environment, name=name, token_hash=_hash(token), created_at=now,
            expires_at=expires,
        )
        tx.audit.append(
            actor=principal.audit_name,
            action="token.create",
            target=f"node {node}",
            details={
                "token_id": token_id,
                "name": name,
                "node": node,
                "environment": environment,
                "role": NodeRole.NODE.value,
                "expires_at": expires.isoformat(),
            },
        )
    return IssuedToken(
        id=token_id, user=None, name=name, token=Secret(token), expires_at=expires, node=node,
        environment=environment,
    )


def create_token(
    hm: Harbourmaster, *, user: str, name: str, actor: str, lifetime: dt.timedelta | None = None
) -> IssuedToken:
    """Issue a bearer token for ``user``; the only time the token exists outside its hash.

    ``lifetime`` defaults to :data:`DEFAULT_TOKEN_LIFETIME`.

    Raises:
        NotFound: no such user.
        BadInput: ``lifetime`` is shorter than an hour or longer than 10 years,
            or ``name`` is empty or longer than 128 characters.
    """
    lifetime = DEFAULT_TOKEN_LIFETIME if lifetime is None else lifetime
    _check_lifetime(lifetime)
    if not name or len(name) > _NAME_MAX_LENGTH:
        raise BadInput(f"token name: must be 1 to {_NAME_MAX_LENGTH} characters, not {len(name)}")
    token = _PREFIX + secrets.token_urlsafe(32)
    now = hm.clock.now()
    expires = now + lifetime
    with hm.store.transaction() as tx:
        token_id = tx.tokens.create(
            user=user, name=name, token_hash=_hash(token), created_at=now, expires_at=expires
        )
        if token_id is None:
            raise NotFound(f"user {user} is not defined; add it with 'harbourmaster apply' first")
        tx.audit.append(
            actor=actor,
            action="token.create",
            target=f"user {user}",
            details={"token_id": token_id, "name": name, "expires_at": expires.isoformat()},
        )
    return IssuedToken(id=token_id, user=user, name=name, token=Secret(token), expires_at=expires)


def authenticate(
    hm: Harbourmaster, token: str, *, method: str | None = None, route: str | None = None
) -> Principal:
    """The principal a bearer token belongs to; the use is audited as ``token.use``.

    Called once per request.  ``method`` and ``route`` (the route template,
    never the raw path) are recorded when given.  A known token that is
    expired or revoked is recorded as a refused use; an unknown token is not
    recorded (there is nothing to name it by).

    Raises:
        Unauthenticated: unknown, revoked or expired token (the message never repeats it).
    """
    if not token.startswith(_PREFIX) or len(token) > _MAX_TOKEN_LENGTH:
        raise Unauthenticated("invalid bearer token")
    now = hm.clock.now()
    with hm.store.transaction() as tx:
        found = tx.tokens.find(_hash(token))
        if found is None:
            raise Unauthenticated("invalid bearer token")
        refusal = "revoked" if found.revoked else "expired" if found.expires_at < now else None
        details: dict[str, object] = {"token_id": found.id, "user": found.user, "name": found.name}
        if found.node is not None:
            details.update(node=found.node, environment=found.environment)
        actor = found.user if found.user is not None else f"{NODE_ACTOR_PREFIX}{found.node}"
        if method is not None:
            details["method"] = method
        if route is not None:
            details["route"] = route
        if refusal is not None:
            details["reason"] = refusal
        elif found.last_used_at is None or now - found.last_used_at >= _LAST_USED_PRECISION:
            tx.tokens.touch(found.id, at=now)
        tx.audit.append(
            actor=actor,
            action="token.use",
            target=f"token {found.id}",
            result="ok" if refusal is None else "refused",
            details=details,
        )
    # Raised after the commit: the refusal must stay in the log.
    if refusal == "revoked":
        raise Unauthenticated("bearer token was revoked")
    if refusal == "expired":
        raise Unauthenticated("bearer token has expired; ask an administrator for a new one")
    return Principal(actor, found.role, token_id=found.id, node=found.node, environment=found.environment)


def list_tokens(hm: Harbourmaster, principal: Principal, *, user: str | None = None) -> list[TokenInfo]:
    """Every token (or ``user``'s), oldest first: metadata only.

    Raises:
        Forbidden: the principal may not administer tokens.
    """
    require(principal, Permission.TOKEN_ADMIN)
    now = hm.clock.now()
    with hm.store.read() as tx:
        return [_info(tok, now) for tok in tx.tokens.tokens(user=user)]


def revoke_token(hm: Harbourmaster, principal: Principal, *, token_id: int) -> TokenInfo:
    """Revoke a token: it is refused from now on.  Revoking a revoked token changes nothing.

    Raises:
        Forbidden: the principal may not administer tokens.
        NotFound: no token has that id.
    """
    require(principal, Permission.TOKEN_ADMIN)
    now = hm.clock.now()
    with hm.store.transaction() as tx:
        tok = tx.tokens.get(token_id)
        if tok is None:
            raise NotFound(f"token {token_id} does not exist; 'harbourmaster token list' shows the tokens")
        if not tok.revoked:
            tx.tokens.revoke(tok.id)
            tok = replace(tok, revoked=True)
            tx.audit.append(
                actor=principal.audit_name,
                action="token.revoke",
                target=f"token {tok.id}",
                details={"token_id": tok.id, "user": tok.user, "name": tok.name}
                | ({"node": tok.node, "environment": tok.environment} if tok.node is not None else {}),
            )
        return _info(tok, now)
