"""How the core reaches an environment's engine or API server: :func:`target_access`.

The environment's governance entry says where (``endpoint`` or ``api_server``) and how to trust it (CA,
client certificate); its client key and API server token are opened from the vault for one operation
only, bound to the endpoint they were entered for, and each opening is audited (``credential.use``,
naming the field, never the secret).
"""

from __future__ import annotations

from harbourmaster.deploy.interface import TargetAccess, TargetConnectors
from harbourmaster.domain.model import Environment, EnvironmentKind
from harbourmaster.domain.secret import Secret
from harbourmaster.errors import BadInput, Error
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.credentials import environment_record, open_environment_secret

__all__ = ["connectors", "target_access"]


def connectors(hm: Harbourmaster) -> TargetConnectors:
    """The core's deployment-target connectors.

    Raises:
        Error: this core was built without them (it deploys nowhere).
    """
    if hm.targets is None:
        raise Error("this harbourmaster has no deployment targets (built without engine connectors)")
    return hm.targets


def target_access(
    hm: Harbourmaster, env: Environment, *, actor: str, purpose: str, audit: bool = True
) -> TargetAccess:
    """Where ``env``'s engine or API server is, with its client key and token opened for ``purpose``.

    Each opening is audited, unless ``audit`` is false: ``serve``'s reaper records its first opening
    of each environment's credential, not one every interval.

    Raises:
        BadInput: the environment has no endpoint (Docker, Swarm) or no API server with a token or a
            client certificate (Kubernetes), or a secret its entry names is not stored.
        VaultError: a secret cannot be opened (altered, or entered for another endpoint).
    """
    connection = env.connection
    kubernetes = env.kind is EnvironmentKind.KUBERNETES
    address = connection.api_server if kubernetes else connection.endpoint
    if address is None:
        field = "api_server (or kubeconfig)" if kubernetes else "endpoint"
        raise BadInput(
            f"environment {env.name} has no {field}: give it in the environment's entry of the governance "
            "document (harbourmaster apply)"
        )
    if kubernetes and not connection.token_set and not connection.tls.client_key_set:
        raise BadInput(
            f"environment {env.name} has no credential for its API server: give a token or a TLS client "
            "certificate and key in its entry of the governance document (harbourmaster apply)"
        )
    opened: dict[str, Secret] = {}
    wanted = [name for name in ("token", "client_key") if connection.secret_set(name)]
    if wanted:
        with hm.store.transaction() as tx:
            for name in wanted:
                blob = tx.governance.environment_secret(env.name, name)
                if blob is None:
                    raise BadInput(f"environment {env.name}: its {name} is not stored; apply its entry again")
                opened[name] = open_environment_secret(hm, env, blob, field=name)
                if not audit:
                    continue
                tx.audit.append(
                    actor=actor,
                    action="credential.use",
                    target=environment_record(env.name),
                    details={"purpose": purpose, "field": name, "address": address},
                )
    return TargetAccess(
        address=address,
        ca_pem=connection.tls.ca_bundle,
        client_cert_pem=connection.tls.client_certificate,
        client_key_pem=opened.get("client_key"),
        token=opened.get("token"),
        insecure=connection.tls.insecure,
    )
