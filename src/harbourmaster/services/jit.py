"""Just-in-time pull Secrets left in a cluster: ``jit reap``.

A deployment-window Secret (``hm-jit-<deployment>``) lives only while its rollout pulls; the
deployment deletes it on every path it controls.  A process killed in between leaves it behind with
its expiry label, and the reaper deletes it once that has passed.  It reaches the environment's API
server with the token the governance document gave it (opened from the vault for this call only,
bound to that API server) and records what it deleted.

``serve`` runs a :class:`JitReaper` every ``HARBOURMASTER_JIT_REAP_SECONDS``: it reaps every Kubernetes
environment with an API server and a credential, as ``jit-reaper:<environment>``.  One environment
failing never stops the others; a failure is logged and audited (``jit.reap.failed``) once per
environment and distinct error, not every interval, and a reap that deleted nothing records nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.model import Environment, EnvironmentKind, Role
from harbourmaster.errors import BadInput, Error
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.environment_access import named_environment
from harbourmaster.services.environment_connect import connectors, target_access
from harbourmaster.services.results import JitReapPublic, ReapedSecretPublic

__all__ = [
    "REAPER_ACTOR_PREFIX",
    "EnvironmentReap",
    "JitReaper",
    "reap_all",
    "reap_jit_secrets",
    "reaper_principal",
]

log = logging.getLogger(__name__)

#: The actor ``serve``'s reaper acts and is recorded as, followed by the environment's name.
REAPER_ACTOR_PREFIX = "jit-reaper:"


def reap_jit_secrets(hm: Harbourmaster, principal: Principal, *, environment: str) -> JitReapPublic:
    """Delete every expired just-in-time pull Secret on ``environment``'s cluster; what was deleted.

    Raises:
        Forbidden: ``principal`` may not change the model's environments (platform engineers and
            administrators reap).
        NotFound: no such environment.
        BadInput: it is not Kubernetes, or has no API server with a token.
        DeployError / EngineUnreachable: the API server refused or cannot be reached (nothing is
            recorded as deleted that was not).
    """
    require(principal, Permission.GOVERNANCE_WRITE)
    env = named_environment(hm.snapshot(), environment)
    if env.kind is not EnvironmentKind.KUBERNETES:
        raise BadInput(
            f"environment {env.name} is {env.kind.value}: just-in-time pull Secrets are on Kubernetes only"
        )
    return _reap(hm, principal, env, record_nothing_deleted=True)


def _reap(
    hm: Harbourmaster,
    principal: Principal,
    env: Environment,
    *,
    record_nothing_deleted: bool,
    record_opening: bool = True,
) -> JitReapPublic:
    require(principal, Permission.GOVERNANCE_WRITE)
    access = target_access(hm, env, actor=principal.audit_name, purpose="jit.reap", audit=record_opening)
    target = connectors(hm).kubernetes(access)
    try:
        reaped = target.reap(hm.clock.now().timestamp())
    finally:
        target.close()
    deleted = [
        ReapedSecretPublic(namespace=r.namespace, name=r.name, expired_at=r.expired_at) for r in reaped
    ]
    if not deleted and not record_nothing_deleted:
        return JitReapPublic(environment=env.name, api_server=access.address, deleted=deleted)
    with hm.store.transaction() as tx:
        tx.audit.append(
            actor=principal.audit_name,
            action="jit.reap",
            target=f"environment {env.name}",
            details={
                "api_server": access.address,
                "credential": "the environment's API server token"
                if access.token is not None
                else "the environment's TLS client key",
                "deleted": [f"{d.namespace}/{d.name}" for d in deleted],
            },
        )
    return JitReapPublic(environment=env.name, api_server=access.address, deleted=deleted)


def reaper_principal(environment: str) -> Principal:
    """Who ``serve``'s reaper acts as on ``environment``: ``jit-reaper:<environment>``, a platform role
    used only for the permission check (no token maps to it)."""
    return Principal(f"{REAPER_ACTOR_PREFIX}{environment}", Role.PLATFORM_ENGINEER)


@dataclass(frozen=True, slots=True)
class EnvironmentReap:
    """One environment's reap in :meth:`JitReaper.reap_all`: what it deleted, or why it failed."""

    environment: str
    deleted: tuple[ReapedSecretPublic, ...] = ()
    #: The failure's message (no secret: the adapters' messages never carry one); None when it reaped.
    error: str | None = None


def reapable(hm: Harbourmaster) -> list[Environment]:
    """The Kubernetes environments the reaper reaches: an API server and a token or client key."""
    return [
        env
        for env in hm.snapshot().environments.values()
        if env.kind is EnvironmentKind.KUBERNETES
        and env.connection.api_server is not None
        and (env.connection.token_set or env.connection.tls.client_key_set)
    ]


class JitReaper:
    """Reaps expired just-in-time pull Secrets on every reachable Kubernetes environment; remembers each
    environment's last failure, so a failure that persists is audited once, not every interval."""

    def __init__(self, hm: Harbourmaster) -> None:
        self.hm = hm
        self._failing: dict[str, str] = {}
        #: Environments whose credential opening this reaper has audited: the first opening of each is
        #: recorded (``credential.use``, purpose ``jit.reap``), not one every interval.
        self._opened: set[str] = set()

    def reap_all(self) -> list[EnvironmentReap]:
        """Reap each environment of :func:`reapable` in turn; one result per environment, in name order.

        Never raises for one environment: its failure is the result's ``error``, logged, and audited
        (``jit.reap.failed``) when it differs from the environment's last one.
        """
        out: list[EnvironmentReap] = []
        envs = sorted(reapable(self.hm), key=lambda e: e.name)
        for gone in set(self._failing) - {e.name for e in envs}:
            del self._failing[gone]
        for env in envs:
            principal = reaper_principal(env.name)
            try:
                result = _reap(
                    self.hm, principal, env, record_nothing_deleted=False,
                    record_opening=env.name not in self._opened,
                )  # fmt: skip
                self._opened.add(env.name)
            except Error as exc:
                out.append(EnvironmentReap(env.name, error=self._failed(env, principal, exc.message)))
                continue
            except Exception as exc:  # the reaper must outlive any one failure; its text may be anything
                message = f"unexpected {type(exc).__name__}"
                out.append(EnvironmentReap(env.name, error=self._failed(env, principal, message)))
                continue
            if self._failing.pop(env.name, None) is not None:
                log.info("just-in-time Secret reaper: environment %s is reachable again", env.name)
            if result.deleted:
                names = ", ".join(f"{d.namespace}/{d.name}" for d in result.deleted)
                log.info("just-in-time Secret reaper deleted %d expired Secret(s) on %s: %s",
                         len(result.deleted), env.name, names)  # fmt: skip
            out.append(EnvironmentReap(env.name, deleted=tuple(result.deleted)))
        return out

    def _failed(self, env: Environment, principal: Principal, message: str) -> str:
        if self._failing.get(env.name) == message:
            log.debug("just-in-time Secret reaper: %s still fails: %s", env.name, message)
            return message
        self._failing[env.name] = message
        log.warning("just-in-time Secret reaper could not reap %s: %s", env.name, message)
        try:
            with self.hm.store.transaction() as tx:
                tx.audit.append(
                    actor=principal.audit_name,
                    action="jit.reap.failed",
                    target=f"environment {env.name}",
                    details={"api_server": env.connection.api_server, "error": message},
                )
        except Error as exc:
            del self._failing[env.name]  # audited at the next interval instead
            log.warning("just-in-time Secret reaper could not record the failure on %s: %s", env.name,
                        exc.message)  # fmt: skip
        return message


def reap_all(hm: Harbourmaster, reaper: JitReaper | None = None) -> list[EnvironmentReap]:
    """One pass of ``serve``'s reaper (see :class:`JitReaper`; give ``reaper`` to keep its memory of
    failures across passes)."""
    return (reaper or JitReaper(hm)).reap_all()
