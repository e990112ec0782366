"""Just-in-time pull Secrets left in a cluster: ``jit reap``.

A deployment-window Secret (``hm-jit-<deployment>``) lives only while its rollout pulls; the
deployment deletes it on every path it controls.  A process killed in between leaves it behind with
its expiry label, and the reaper deletes it once that has passed.  It reaches the environment's API
server with the token the governance document gave it (opened from the vault for this call only,
bound to that API server) and records what it deleted.
"""

from __future__ import annotations

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.model import EnvironmentKind
from harbourmaster.errors import BadInput, Error
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.credentials import open_environment_secret
from harbourmaster.services.environment_access import named_environment
from harbourmaster.services.results import JitReapPublic, ReapedSecretPublic

__all__ = ["reap_jit_secrets"]


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
    connection = env.connection
    if connection.api_server is None or not connection.token_set:
        raise BadInput(
            f"environment {env.name} has no API server with a token: give api_server and token in its "
            "entry of the governance document (harbourmaster apply)"
        )
    if hm.kubernetes is None:
        raise Error("this harbourmaster has no Kubernetes client")
    with hm.store.read() as tx:
        blob = tx.governance.environment_secret(env.name, "token")
    if blob is None:
        raise BadInput(f"environment {env.name}: its token is not stored; apply its entry again")
    token = open_environment_secret(hm, env, blob, field="token")
    target = hm.kubernetes(connection.api_server, token=token, ca_pem=connection.tls.ca_bundle)
    reaped = target.reap(hm.clock.now().timestamp())
    deleted = [
        ReapedSecretPublic(namespace=r.namespace, name=r.name, expired_at=r.expired_at) for r in reaped
    ]
    with hm.store.transaction() as tx:
        tx.audit.append(
            actor=principal.audit_name,
            action="jit.reap",
            target=f"environment {env.name}",
            details={
                "api_server": connection.api_server,
                "credential": "the environment's API server token",
                "deleted": [f"{d.namespace}/{d.name}" for d in deleted],
            },
        )
    return JitReapPublic(environment=env.name, api_server=connection.api_server, deleted=deleted)
