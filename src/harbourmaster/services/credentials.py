"""Registry credentials: what may be known about them, their expiry, and their use.

The secret itself leaves the vault only through :func:`use_credential`, for a
registry operation or a deployment, and every such use is audited.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from harbourmaster.domain import durations
from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.durations import MAX_WINDOW
from harbourmaster.domain.harbor import PULL_ROBOT, robot_for_purpose
from harbourmaster.domain.model import CredentialInfo, CredentialKind, Environment, Registry
from harbourmaster.domain.secret import Secret
from harbourmaster.errors import BadInput, NotFound
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.results import ExpiringCredentialPublic
from harbourmaster.store.robot_interface import ManagedRobot, robot_field
from harbourmaster.vault.interface import SealedSecret, VaultError

__all__ = [
    "CredentialUse",
    "ExpiringCredential",
    "environment_record",
    "expiring_credentials",
    "open_environment_secret",
    "open_registry_secret",
    "open_robot_secret",
    "parse_duration",
    "pull_credential_info",
    "same_environment_secret",
    "same_registry_secret",
    "seal_environment_secret",
    "seal_registry_secret",
    "seal_robot_secret",
    "use_client_key",
    "use_credential",
]


#: A credential due to expire (one model with the API and ``credentials expiring --json``).
ExpiringCredential = ExpiringCredentialPublic


def parse_duration(text: str, *, field: str = "--within") -> dt.timedelta:
    """A look-ahead window: ``14d``, ``2w``, ``36h`` → a timedelta of at most :data:`MAX_WINDOW`.

    Raises:
        DurationError: (a BadInput) not a number followed by h, d or w, or longer than 100 years.
    """
    return durations.parse_duration(text, field=field, maximum=MAX_WINDOW)


def expiring_credentials(
    hm: Harbourmaster, principal: Principal, *, within: dt.timedelta
) -> list[ExpiringCredential]:
    """Credentials that expire within ``within`` from today, or already have, soonest first.

    Raises:
        Forbidden: the principal may not read the governance model.
        BadInput: ``within`` is negative or longer than :data:`MAX_WINDOW`.
    """
    require(principal, Permission.GOVERNANCE_READ)
    if not dt.timedelta(0) <= within <= MAX_WINDOW:
        raise BadInput(
            f"within: {within.days} days is outside 0 to {durations.describe_duration(MAX_WINDOW)}"
        )
    today = hm.clock.today()
    limit = today + within
    out = []
    state = hm.state()
    managed = {r.name for r in state.registries if r.management is not None}
    with hm.store.read() as tx:
        robots = [r for r in tx.robots.robots() if r.registry in managed and r.retire_after is None]
    for robot in robots:
        if robot.expires_at is None or robot.expires_at.date() > limit:
            continue
        day = robot.expires_at.date()
        out.append(
            ExpiringCredential(registry=robot.registry, kind="robot", username=robot.harbor_name,
                               expires=day, days_left=(day - today).days, expired=day < today)
        )  # fmt: skip
    for reg in state.registries:
        cred = reg.credential
        if cred is None or cred.expires is None or cred.expires > limit:
            continue
        out.append(
            ExpiringCredential(
                registry=reg.name,
                kind=cred.kind.value,
                username=cred.username,
                expires=cred.expires,
                days_left=(cred.expires - today).days,
                expired=cred.expires < today,
            )
        )
    return sorted(out, key=lambda c: (c.expires, c.registry))


@dataclass(frozen=True, slots=True)
class CredentialUse:
    registry: str
    username: str
    secret: Secret


def seal_registry_secret(hm: Harbourmaster, registry: Registry, secret: Secret, *, field: str) -> bytes:
    """``secret`` sealed for ``registry``'s ``field``, bound to the registry's origin."""
    sealed = hm.vault.seal(secret, record=registry.name, field=field, origin=registry.credential_origin)
    return sealed.to_bytes()


def environment_record(environment: str) -> str:
    """The vault record an environment's connection secrets are sealed under (registry names have no
    ``/``, so the two never meet)."""
    return f"environment/{environment}"


def _origin(environment: Environment) -> str:
    # A secret needs an endpoint or API server to be entered for (the document's rules).
    return environment.connection.origin or f"environment:{environment.name}"


def seal_environment_secret(
    hm: Harbourmaster, environment: Environment, secret: Secret, *, field: str
) -> bytes:
    """``secret`` sealed for ``environment``'s connection ``field``, bound to its endpoint or API server."""
    sealed = hm.vault.seal(
        secret, record=environment_record(environment.name), field=field, origin=_origin(environment)
    )
    return sealed.to_bytes()


def open_environment_secret(
    hm: Harbourmaster, environment: Environment, blob: bytes, *, field: str
) -> Secret:
    """Open an environment's sealed connection secret for its endpoint or API server as it is now.

    Raises:
        DecryptionError: the secret was sealed for another endpoint or API server (or altered).
    """
    return hm.vault.open(
        SealedSecret.from_bytes(blob), record=environment_record(environment.name), field=field,
        origin=_origin(environment),
    )  # fmt: skip


def _holds(open_stored: Callable[[], Secret], secret: Secret) -> bool:
    """Whether the stored secret ``open_stored`` opens is ``secret`` (one that does not open — sealed
    for another origin, or altered — never is)."""
    try:
        return open_stored().equals(secret)
    except VaultError:
        return False


def same_environment_secret(
    hm: Harbourmaster, environment: Environment, stored: bytes | None, secret: Secret, *, field: str
) -> bool:
    """Whether ``stored`` holds ``secret`` for ``environment`` as it is now (compared inside the vault)."""
    return stored is not None and _holds(
        lambda: open_environment_secret(hm, environment, stored, field=field), secret
    )


def same_registry_secret(hm: Harbourmaster, registry: Registry, stored: bytes | None, secret: Secret, *,
                         field: str) -> bool:  # fmt: skip
    """Whether ``stored`` holds ``secret`` for ``registry``'s origin (a moved registry never matches)."""
    return stored is not None and _holds(
        lambda: open_registry_secret(hm, registry, stored, field=field), secret
    )


def open_registry_secret(hm: Harbourmaster, registry: Registry, blob: bytes, *, field: str) -> Secret:
    """Open a sealed registry secret for ``registry`` as it is now.

    Raises:
        DecryptionError: the secret was sealed for another origin (or altered).
    """
    return hm.vault.open(
        SealedSecret.from_bytes(blob), record=registry.name, field=field, origin=registry.credential_origin
    )


def _registry(hm: Harbourmaster, registry: Registry | str) -> Registry:
    if isinstance(registry, Registry):
        return registry
    # The snapshot is cached per model revision: no full model load on the decision path.
    found = hm.snapshot().registries.get(registry)
    if found is None:
        raise NotFound(f"registry {registry} is not defined")
    return found


def use_credential(
    hm: Harbourmaster, *, registry: Registry | str, actor: str, purpose: str
) -> CredentialUse | None:
    """Open a registry's credential for one operation; audited.  None when it has none.

    The secret opens only for the origin it was entered for: pass the
    :class:`Registry` whose endpoint the secret will be sent to, and it opens
    only if that endpoint is the one the secret is bound to.

    Raises:
        NotFound: no such registry.
        BadInput: the credential has expired (expired credentials are refused).
        VaultError: the sealed secret cannot be opened (altered, or bound to another origin).
    """
    reg = _registry(hm, registry)
    if reg.management is not None:
        return _use_robot(hm, reg, actor=actor, purpose=purpose)
    cred = reg.credential
    with hm.store.transaction() as tx:
        blob = tx.governance.sealed_blobs(reg.name).credential
        if cred is None or blob is None:
            return None
        if cred.expired(hm.clock.today()):
            # Recorded in its own transaction: the refusal must stay in the log.
            tx.audit.append(
                actor=actor,
                action="credential.use",
                target=reg.name,
                result="refused",
                details={"purpose": purpose, "reason": "expired"},
            )
            use = None
        else:
            secret = open_registry_secret(hm, reg, blob, field="credential")
            tx.audit.append(
                actor=actor,
                action="credential.use",
                target=reg.name,
                details={"purpose": purpose, "username": cred.username},
            )
            use = CredentialUse(reg.name, cred.username, secret)
    if use is None:
        assert cred.expires is not None
        raise BadInput(
            f"the credential of registry {reg.name} expired on {cred.expires.isoformat()}; "
            "expired credentials are refused"
        )
    return use


def open_robot_secret(hm: Harbourmaster, registry: Registry, robot: ManagedRobot) -> Secret:
    """Open a managed robot's sealed secret, bound to ``registry``'s origin as it is now.

    Raises:
        DecryptionError: the secret was sealed for another origin (or altered).
    """
    return hm.vault.open(
        SealedSecret.from_bytes(robot.sealed), record=registry.name,
        field=robot_field(robot.name, robot.generation), origin=registry.credential_origin,
    )  # fmt: skip


def seal_robot_secret(
    hm: Harbourmaster, registry: Registry, name: str, generation: int, secret: Secret
) -> bytes:
    """A robot generation's secret sealed for ``registry``'s origin."""
    sealed = hm.vault.seal(
        secret, record=registry.name, field=robot_field(name, generation), origin=registry.credential_origin
    )
    return sealed.to_bytes()


def pull_credential_info(hm: Harbourmaster, registry: Registry) -> CredentialInfo | None:
    """What may be known of the credential pulls from ``registry`` use: its own, or for a managed Harbor
    its pull robot (None until ``harbor sync`` made one; the administrator's is Harbor's API's only)."""
    if registry.management is None:
        return registry.credential
    with hm.store.read() as tx:
        robot = tx.robots.active(registry.name, PULL_ROBOT)
    if robot is None:
        return None
    expires = robot.expires_at.date() if robot.expires_at is not None else None
    return CredentialInfo(CredentialKind.ROBOT, robot.harbor_name, expires, secret_set=True)


def _use_robot(hm: Harbourmaster, reg: Registry, *, actor: str, purpose: str) -> CredentialUse:
    """A managed Harbor's robot for one operation (pull robot, or push robot for pushes); audited.

    Its administrator credential never leaves for a pull or a deployment: that is Harbor's API's only.
    """
    name = robot_for_purpose(purpose)
    today = hm.clock.now()
    refusal = None
    with hm.store.transaction() as tx:
        robot = tx.robots.active(reg.name, name)
        if robot is None:
            refusal = (f"registry {reg.name} is managed and has no {name} robot account yet; "
                       f"run: harbourmaster harbor sync --registry {reg.name}")  # fmt: skip
            reason = "no robot"
        elif robot.expires_at is not None and robot.expires_at <= today:
            refusal = (f"the {name} robot account of registry {reg.name} expired on "
                       f"{robot.expires_at.date().isoformat()}; expired credentials are refused")  # fmt: skip
            reason = "expired"
        if refusal is not None:
            tx.audit.append(actor=actor, action="credential.use", target=reg.name, result="refused",
                            details={"purpose": purpose, "robot": name, "reason": reason})  # fmt: skip
        else:
            assert robot is not None
            secret = open_robot_secret(hm, reg, robot)
            tx.audit.append(actor=actor, action="credential.use", target=reg.name,
                            details={"purpose": purpose, "username": robot.harbor_name})  # fmt: skip
    if refusal is not None or robot is None:
        raise BadInput(refusal or f"registry {reg.name} has no {name} robot account")
    return CredentialUse(reg.name, robot.harbor_name, secret)


def use_client_key(hm: Harbourmaster, *, registry: Registry | str, actor: str, purpose: str) -> Secret | None:
    """Open a registry's TLS client key for one connection; audited.  None when it has none.

    Raises:
        NotFound: no such registry.
        VaultError: the sealed key cannot be opened (altered, or bound to another origin).
    """
    reg = _registry(hm, registry)
    with hm.store.transaction() as tx:
        blob = tx.governance.sealed_blobs(reg.name).client_key
        if blob is None:
            return None
        key = open_registry_secret(hm, reg, blob, field="client_key")
        tx.audit.append(
            actor=actor,
            action="credential.use",
            target=reg.name,
            details={"purpose": purpose, "field": "client_key"},
        )
    return key
