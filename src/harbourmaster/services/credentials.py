"""Registry credentials: what may be known about them, their expiry, and their use.

The secret itself leaves the vault only through :func:`use_credential`, for a
registry operation or a deployment, and every such use is audited.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from harbourmaster.domain.secret import Secret
from harbourmaster.errors import BadInput, NotFound
from harbourmaster.services.audit import append_audit
from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.governance import sealed_blobs
from harbourmaster.vault.interface import SealedSecret

__all__ = [
    "CredentialUse",
    "ExpiringCredential",
    "expiring_credentials",
    "parse_duration",
    "use_client_key",
    "use_credential",
]


@dataclass(frozen=True, slots=True)
class ExpiringCredential:
    registry: str
    kind: str
    username: str
    expires: dt.date
    days_left: int
    expired: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "registry": self.registry,
            "kind": self.kind,
            "username": self.username,
            "expires": self.expires.isoformat(),
            "days_left": self.days_left,
            "expired": self.expired,
        }


def parse_duration(text: str, *, field: str = "--within") -> dt.timedelta:
    """``14d``, ``2w``, ``36h`` → a timedelta.

    Raises:
        BadInput: not a number followed by h, d or w.
    """
    units = {"h": 1 / 24, "d": 1, "w": 7}
    t = text.strip().lower()
    if len(t) < 2 or t[-1] not in units or not t[:-1].isdigit():
        raise BadInput(f"{field}: {text!r} is not a duration; use a number and a unit, e.g. 14d, 2w, 36h")
    return dt.timedelta(days=int(t[:-1]) * units[t[-1]])


def expiring_credentials(hm: Harbourmaster, *, within: dt.timedelta) -> list[ExpiringCredential]:
    """Credentials that expire within ``within`` from today, or already have, soonest first."""
    today = hm.today()
    limit = today + within
    out = []
    for reg in hm.state().registries:
        cred = reg.credential
        if cred is None or cred.expires is None or cred.expires > limit:
            continue
        out.append(
            ExpiringCredential(
                reg.name,
                cred.kind.value,
                cred.username,
                cred.expires,
                (cred.expires - today).days,
                cred.expires < today,
            )
        )
    return sorted(out, key=lambda c: (c.expires, c.registry))


@dataclass(frozen=True, slots=True)
class CredentialUse:
    registry: str
    username: str
    secret: Secret


def use_credential(hm: Harbourmaster, *, registry: str, actor: str, purpose: str) -> CredentialUse | None:
    """Open a registry's credential for one operation; audited.  None when it has none.

    Raises:
        NotFound: no such registry.
        BadInput: the credential has expired (expired credentials are refused).
        VaultError: the sealed secret cannot be opened.
    """
    # The snapshot is cached per model revision: no full model load on the decision path.
    state_reg = hm.snapshot().registries.get(registry)
    if state_reg is None:
        raise NotFound(f"registry {registry} is not defined")
    cred = state_reg.credential
    with hm.db.transaction() as session:
        blob, _ = sealed_blobs(session, registry)
        if cred is None or blob is None:
            return None
        if cred.expired(hm.today()):
            # Recorded in its own transaction: the refusal must stay in the log.
            append_audit(
                session,
                actor=actor,
                action="credential.use",
                target=registry,
                result="refused",
                details={"purpose": purpose, "reason": "expired"},
            )
            use = None
        else:
            secret = hm.vault.open(SealedSecret.from_bytes(blob), record=registry, field="credential")
            append_audit(
                session,
                actor=actor,
                action="credential.use",
                target=registry,
                details={"purpose": purpose, "username": cred.username},
            )
            use = CredentialUse(registry, cred.username, secret)
    if use is None:
        assert cred.expires is not None
        raise BadInput(
            f"the credential of registry {registry} expired on {cred.expires.isoformat()}; "
            "expired credentials are refused"
        )
    return use


def use_client_key(hm: Harbourmaster, *, registry: str, actor: str, purpose: str) -> Secret | None:
    """Open a registry's TLS client key for one connection; audited.  None when it has none.

    Raises:
        NotFound: no such registry.
        VaultError: the sealed key cannot be opened.
    """
    if registry not in hm.snapshot().registries:
        raise NotFound(f"registry {registry} is not defined")
    with hm.db.transaction() as session:
        _, blob = sealed_blobs(session, registry)
        if blob is None:
            return None
        key = hm.vault.open(SealedSecret.from_bytes(blob), record=registry, field="client_key")
        append_audit(
            session,
            actor=actor,
            action="credential.use",
            target=registry,
            details={"purpose": purpose, "field": "client_key"},
        )
    return key
