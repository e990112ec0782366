"""Deployments: harbourmaster deploys what its verdict allows, with credentials that exist only while
the pull happens (``deploy``, ``deployments list|show|remove``, ``POST .../deployments``).

A deployment is accepted in two steps.

1. :func:`prepare` (in the caller's request): the principal may deploy to the environment (team members
   where they have access, and on Docker and Swarm only as themselves); every image of the content is
   judged by the one policy verdict for the tenant (namespace or user) and a denied image stops the
   deployment before anything is touched, with the reasons; each allowed image is pinned to the digest
   the verdict checked; an expired registry credential is refused by name and date before any call; a
   compose file's unsupported fields are refused by name. The deployment row is kept (its id is stable
   per environment, tenant and name, so redeploying the same file changes nothing on the engine).
2. :func:`run` (the job ``deployment.apply``, or at once with ``deploy --wait``): the pinned images are
   judged again (a grant revoked meanwhile stops it), each registry's credential is opened from the
   vault or minted short-lived (ECR, ACR, GAR) for this run only, the environment's engine or API
   server is reached with its own credential from the vault, and the target pulls and starts:
   ``X-Registry-Auth`` in memory on Docker, the service's pull auth on Swarm (dropped once running with
   ``registry_auth_retention: none``), a deployment-window Secret on Kubernetes.

Every step is audited: ``deploy.request`` / ``deploy.refused`` / ``deploy.apply`` / ``deploy.failed`` /
``deploy.remove``, naming the user, the deployment, each image's digest, its registry and the credential
by its user name — never a secret. A credential is only handed to an environment granted its registry
(the verdict), for the registry host it was entered for.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from harbourmaster.deploy.interface import DeploymentTarget, RegistryAuth, SwarmEngine
from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.compose_plan import ComposePlan, plan_compose
from harbourmaster.domain.model import Environment, EnvironmentKind, Role
from harbourmaster.domain.pinning import pin_documents, pinned_reference, verdict_id
from harbourmaster.domain.reference import parse_reference
from harbourmaster.domain.secret import Secret
from harbourmaster.errors import BadInput, Error, Forbidden, NotFound
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.credentials import pull_credential_info
from harbourmaster.services.decisions import ContentDecision, check_content, check_images
from harbourmaster.services.deployment_results import DeploymentAccepted, DeploymentPublic
from harbourmaster.services.environment_access import authorise_environment, named_environment
from harbourmaster.services.environment_connect import connectors, target_access
from harbourmaster.store.deployment_interface import DeploymentState, StoredDeployment

__all__ = [
    "DEPLOYMENT_APPLY_KIND",
    "DeploymentDenied",
    "check_deployment_payload",
    "deploy_now",
    "list_deployments",
    "prepare",
    "remove_deployment",
    "request_deployment",
    "run",
    "run_deployment_job",
    "show_deployment",
]

DEPLOYMENT_APPLY_KIND = "deployment.apply"
Retention = Literal["keep", "none"]
Progress = Callable[[str], None]

_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-_"
_MAX_NAME = 63
#: Seconds a deployment-window Secret outlives the rollout timeout (the reaper deletes it then).
_WINDOW_MARGIN = 60


class DeploymentDenied(Forbidden):
    """The verdict denied an image of the content: nothing was deployed."""

    kind = "deployment-denied"


@dataclass(frozen=True, slots=True)
class _Place:
    environment: Environment
    namespace: str | None
    user: str | None

    @property
    def tenant(self) -> str:
        value = self.namespace if self.namespace is not None else self.user
        assert value is not None
        return value


# -- who deploys where ------------------------------------------------------------------------------


def _place(
    hm: Harbourmaster, principal: Principal, environment: str, namespace: str | None, user: str | None
) -> _Place:
    require(principal, Permission.DEPLOY)
    authorise_environment(hm, principal, environment)
    env = named_environment(hm.snapshot(), environment)
    if env.kind is EnvironmentKind.KUBERNETES:
        if user is not None or namespace is None:
            raise BadInput(
                f"environment {env.name} is Kubernetes: deploy to a namespace (--namespace; one of "
                f"{', '.join(env.namespaces) or 'none defined'}), not as a user"
            )
        if namespace not in env.namespaces:
            raise NotFound(f"namespace {namespace} is not a namespace of environment {env.name}")
    else:
        if namespace is not None or user is None:
            raise BadInput(
                f"environment {env.name} is {env.kind.value}: deploy as a user (--user), not to a namespace"
            )
        if principal.role is Role.TEAM_MEMBER and user != principal.name:
            raise Forbidden(
                f"{principal.name} (team-member) may deploy to {env.name} as themselves only, not as {user}"
            )
    return _Place(env, namespace, user)


def _deployment_name(name: str | None, source: str, document: object) -> str:
    if name is None and isinstance(document, Mapping) and isinstance(document.get("name"), str):
        name = document["name"]
    if name is None:
        name = Path(source).name.split(".")[0] if source else ""
    if not name or len(name) > _MAX_NAME or not all(c in _NAME_CHARS for c in name) or not name[0].isalnum():
        raise BadInput(
            f"deployment name {name!r}: give --name with 1 to {_MAX_NAME} lower-case letters, digits, "
            "'-' and '_', starting with a letter or digit"
        )
    return name


def _refuse_host_binds(principal: Principal, plan: ComposePlan) -> None:
    """A bind of a host path gives the container that path on the engine's host (``/`` is the host):
    registry operators only, never a team member.

    Raises:
        Forbidden: ``principal`` is a team member and a service binds a host path (each named).
    """
    if principal.role is not Role.TEAM_MEMBER:
        return
    binds = [
        f"services.{c.service}.volumes: {m.source}:{m.target}"
        for c in plan.containers
        for m in c.mounts
        if m.kind == "bind"
    ]
    if binds:
        raise Forbidden(
            f"{principal.name} (team-member) may not bind host paths into containers; use named volumes "
            "or ask a platform engineer to deploy it",
            details=binds,
        )


# -- step 1: judge, pin, keep -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Prepared:
    stored: StoredDeployment
    documents: list[Any]


def _denied(results: Sequence[ContentDecision]) -> list[str]:
    reasons = []
    for c in results:
        d = c.decision
        if not d.allowed:
            what = d.image if d.image is not None else f"{c.subject.source} {c.subject.field_path}"
            reasons.append(f"{what}: {'; '.join(d.reasons) or 'denied'}")
        elif d.digest is None:
            reasons.append(
                f"{d.image}: not pinned to a digest ({d.digest_error or 'the registry did not answer'}); "
                "harbourmaster deploys only what it checked"
            )
    return reasons


def _credential_checks(hm: Harbourmaster, registries: Sequence[str]) -> dict[str, str | None]:
    """Each registry's credential user name (None: anonymous); refuses an expired one by name and date."""
    snapshot = hm.snapshot()
    names: dict[str, str | None] = {}
    for name in registries:
        reg = snapshot.registries[name]
        # A managed Harbor is pulled from with its pull robot, never the administrator's credential.
        cred = pull_credential_info(hm, reg)
        if reg.management is not None and cred is None:
            raise BadInput(f"registry {reg.name} is managed and has no pull robot yet; nothing was deployed: "
                           f"run harbourmaster harbor sync --registry {reg.name}")  # fmt: skip
        if cred is not None and cred.expired(hm.clock.today()):
            assert cred.expires is not None
            raise BadInput(
                f"the credential of registry {reg.name} ({cred.username}) expired on "
                f"{cred.expires.isoformat()}; nothing was deployed: enter a new one with harbourmaster apply"
            )
        names[name] = cred.username if cred is not None and cred.secret_set else None
    return names


def _refuse(hm: Harbourmaster, principal: Principal, place: _Place, name: str, reasons: list[str]) -> None:
    with hm.store.transaction() as tx:
        tx.audit.append(
            actor=principal.audit_name,
            action="deploy.refused",
            target=f"environment {place.environment.name}",
            result="refused",
            details={"deployment": name, "tenant": place.tenant, "reasons": reasons},
        )


def prepare(
    hm: Harbourmaster,
    principal: Principal,
    *,
    environment: str,
    text: str,
    source: str,
    namespace: str | None = None,
    user: str | None = None,
    name: str | None = None,
    origin: Path | None = None,
    retention: Retention = "keep",
) -> _Prepared:
    """Judge, pin and keep a deployment (step 1 of the module docstring); nothing is touched yet.

    Raises:
        Forbidden: ``principal`` may not deploy there (or as that user).
        DeploymentDenied: an image is denied or could not be pinned (every reason given).
        NotFound: no such environment or namespace.
        BadInput: the content is not the environment's kind (compose for Docker and Swarm, Kubernetes
            objects for Kubernetes), uses unsupported compose fields (named), the environment has no
            connection, a registry credential expired, two registries on one host would need two
            credentials, or the name is not usable.
        ContentError: the content cannot be parsed.
    """
    place = _place(hm, principal, environment, namespace, user)
    env = place.environment
    kubernetes = env.kind is EnvironmentKind.KUBERNETES
    if retention != "keep" and env.kind is not EnvironmentKind.SWARM:
        raise BadInput("--registry-auth-retention applies to Swarm environments only")
    if env.connection.origin is None:
        field = "api_server (or kubeconfig)" if kubernetes else "endpoint"
        raise BadInput(
            f"environment {env.name} has no {field} to deploy to: give it in its entry of the governance "
            "document"
        )
    from harbourmaster.enforce.content import load_deployment_content

    # Parsed with the content checks' limits first (size, aliases, duplicate keys), then read plainly.
    is_compose = load_deployment_content(text, source=source, origin=origin).kind == "compose"
    documents = [d for d in yaml.safe_load_all(text) if d is not None]
    if kubernetes == is_compose:
        wanted = "Kubernetes objects" if kubernetes else "a compose file"
        raise BadInput(f"{source}: environment {env.name} is {env.kind.value}: it takes {wanted}")
    deployment_name = _deployment_name(name, source, documents[0] if is_compose else None)
    results, build_only = check_content(
        hm, principal, environment=env.name, text=text, source=source, namespace=place.namespace,
        user=place.user, origin=origin,
    )  # fmt: skip
    reasons = _denied(results)
    reasons += [
        f"service {s}: builds its image (build:), harbourmaster deploys registry images only"
        for s in build_only
    ]
    if reasons:
        _refuse(hm, principal, place, deployment_name, reasons)
        raise DeploymentDenied(
            f"deployment {deployment_name} to {env.name} "
            f"({'namespace' if kubernetes else 'user'} {place.tenant}) was refused: "
            f"{len(reasons)} image(s) not allowed; nothing was deployed",
            details=reasons,
        )
    images: list[dict[str, Any]] = []
    for c in results:
        d = c.decision
        assert d.image is not None and d.digest is not None and d.registry is not None
        workload = c.subject.name if c.subject.kind == "service" else f"{c.subject.kind}/{c.subject.name}"
        images.append({
            "workload": workload, "field_path": c.subject.field_path,
            "document": getattr(c.subject, "document", 0),
            "image": d.image, "digest": d.digest, "pinned": pinned_reference(d.image, d.digest),
            "registry": d.registry,
        })  # fmt: skip
    credentials = _credential_checks(hm, sorted({i["registry"] for i in images}))
    hosts: dict[str, str] = {}
    for image in images:
        image["credential"] = credentials[image["registry"]]
        host = parse_reference(image["pinned"]).domain
        other = hosts.setdefault(host, image["registry"])
        if other != image["registry"] and credentials[other] != credentials[image["registry"]]:
            reasons = [
                f"registries {other} and {image['registry']} are both on {host} with different credentials"
            ]
            _refuse(hm, principal, place, deployment_name, reasons)
            raise BadInput(
                f"deployment {deployment_name}: one deployment can hand one credential per registry host",
                details=reasons,
            )
    if is_compose:
        pins = {i["workload"]: i["pinned"] for i in images}
        plan = plan_compose(
            documents[0], project=deployment_name, deployment_id="check", verdict_id="check", images=pins
        )
        _refuse_host_binds(principal, plan)
    now = hm.clock.now()
    with hm.store.read() as tx:
        existing = tx.deployments.find(environment=env.name, tenant=place.tenant, name=deployment_name)
    stored = StoredDeployment(
        id=existing.id if existing is not None else f"dep-{secrets.token_hex(6)}",
        name=deployment_name, environment=env.name, kind=env.kind.value, tenant=place.tenant,
        state=DeploymentState.QUEUED, source=source, content=text,
        content_sha256=hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(), images=images,
        verdict_id=verdict_id(hm.snapshot().revision, images),
        options={"registry_auth_retention": retention} if env.kind is EnvironmentKind.SWARM else {},
        result=None, error=None, job_id=None, created_by=principal.audit_name,
        created_at=existing.created_at if existing is not None else now, updated_at=now,
    )  # fmt: skip
    return _Prepared(stored, documents)


def _audit_images(stored: StoredDeployment) -> list[dict[str, Any]]:
    return [
        {"workload": i["workload"], "image": i["image"], "digest": i["digest"], "registry": i["registry"],
         "credential": i["credential"] or "anonymous"}
        for i in stored.images
    ]  # fmt: skip


def request_deployment(hm: Harbourmaster, principal: Principal, **kwargs: Any) -> DeploymentAccepted:
    """Prepare a deployment (:func:`prepare`, same arguments) and queue its job (``POST .../deployments``).

    Raises:
        as :func:`prepare`.
    """
    prepared = prepare(hm, principal, **kwargs)
    stored = prepared.stored
    with hm.store.transaction() as tx:
        job = tx.jobs.enqueue(
            kind=DEPLOYMENT_APPLY_KIND, payload={"deployment": stored.id}, created_by=principal.audit_name,
            now=hm.clock.now(), max_attempts=1,
        )  # fmt: skip
        stored = replace(stored, job_id=job.id)
        tx.deployments.save(stored)
        tx.audit.append(
            actor=principal.audit_name, action="deploy.request", target=f"deployment {stored.id}",
            details={"name": stored.name, "environment": stored.environment, "tenant": stored.tenant,
                     "verdict": stored.verdict_id, "job": job.id, "images": _audit_images(stored)},
        )  # fmt: skip
    return DeploymentAccepted(deployment=DeploymentPublic.of(stored), job_id=job.id)


def deploy_now(
    hm: Harbourmaster, principal: Principal, *, progress: Progress | None = None, **kwargs: Any
) -> DeploymentPublic:
    """Prepare a deployment and run it here (``deploy --wait``); the deployment as it ended.

    Raises:
        as :func:`prepare` and :func:`run`.
    """
    prepared = prepare(hm, principal, **kwargs)
    with hm.store.transaction() as tx:
        tx.deployments.save(prepared.stored)
        tx.audit.append(
            actor=principal.audit_name, action="deploy.request", target=f"deployment {prepared.stored.id}",
            details={"name": prepared.stored.name, "environment": prepared.stored.environment,
                     "tenant": prepared.stored.tenant, "verdict": prepared.stored.verdict_id,
                     "images": _audit_images(prepared.stored)},
        )  # fmt: skip
    return run(hm, principal, prepared.stored.id, progress=progress)


# -- step 2: credentials, target, audit -------------------------------------------------------------


def _rejudge(hm: Harbourmaster, principal: Principal, stored: StoredDeployment) -> None:
    kubernetes = stored.kind == EnvironmentKind.KUBERNETES.value
    decisions = check_images(
        hm, principal, environment=stored.environment, images=[i["pinned"] for i in stored.images],
        namespace=stored.tenant if kubernetes else None, user=None if kubernetes else stored.tenant,
        resolve=False,
    )  # fmt: skip
    reasons = [f"{d.image}: {'; '.join(d.reasons)}" for d in decisions if not d.allowed]
    if reasons:
        raise DeploymentDenied(
            f"deployment {stored.name}: the verdict changed since it was requested; nothing was deployed",
            details=reasons,
        )


def _pull_credentials(
    hm: Harbourmaster, principal: Principal, stored: StoredDeployment
) -> dict[str, RegistryAuth]:
    """Each registry host's credential, opened or minted for this run (anonymous registries: none)."""
    from harbourmaster.services.registry_endpoints import mint_credentials

    snapshot = hm.snapshot()
    out: dict[str, RegistryAuth] = {}
    done: set[str] = set()
    for image in stored.images:
        name = image["registry"]
        if name in done or image["credential"] is None:
            continue
        done.add(name)
        registry = snapshot.registries.get(name)
        if registry is None:
            raise BadInput(f"registry {name} is no longer defined; nothing was deployed")
        minted = mint_credentials(hm, registry, actor=principal.audit_name, purpose=f"deploy {stored.id}")
        if minted is not None:
            host = parse_reference(image["pinned"]).domain
            out[host] = RegistryAuth(minted.username, Secret(minted.password.reveal()))
    return out


def _target_result(result: Any) -> dict[str, Any]:
    """A target's result as JSON: the tuples of names, notices, pulls described."""
    out: dict[str, Any] = {}
    for key in (
        "created",
        "recreated",
        "unchanged",
        "removed",
        "pulled",
        "applied",
        "references_kept",
        "notices",
    ):
        value = getattr(result, key, None)
        if value is not None:
            out[key] = list(value)
    for key in ("registry_auth", "secret", "namespace"):
        value = getattr(result, key, None)
        if value is not None:
            out[key] = value
    pulls = getattr(result, "pulls", None)
    if pulls is not None:
        out["pulls"] = [p.describe() for p in pulls]
    return out


def _apply(
    hm: Harbourmaster, principal: Principal, stored: StoredDeployment, env: Environment,
    credentials: Mapping[str, RegistryAuth], progress: Progress,
) -> dict[str, Any]:  # fmt: skip
    access = target_access(hm, env, actor=principal.audit_name, purpose=f"deploy {stored.id}")
    targets = connectors(hm)
    documents = [d for d in yaml.safe_load_all(stored.content) if d is not None]
    if env.kind is EnvironmentKind.KUBERNETES:
        pins = [(int(i["document"]), i["field_path"], i["pinned"]) for i in stored.images]
        cluster = targets.kubernetes(access)
        try:
            progress(f"applying to namespace {stored.tenant} on {access.address}")
            timeout = hm.settings.deploy_timeout_seconds
            result = cluster.apply(
                stored.tenant, pin_documents(documents, pins), credentials, stored.id,
                window_seconds=timeout + _WINDOW_MARGIN, timeout=timeout,
            )  # fmt: skip
        finally:
            cluster.close()
        failures = [p.describe() for p in result.pulls if not p.pulled]
        if failures:
            raise Error(f"deployment {stored.name}: {len(failures)} image pull(s) failed", details=failures)
        return _target_result(result)
    plan = plan_compose(
        documents[0], project=stored.name, deployment_id=stored.id, verdict_id=stored.verdict_id,
        images={i["workload"]: i["pinned"] for i in stored.images},
    )  # fmt: skip
    _refuse_host_binds(principal, plan)
    progress(f"deploying {len(plan.containers)} service(s) to {access.address}")
    if env.kind is EnvironmentKind.SWARM:
        swarm = targets.swarm(access)
        retention = stored.options.get("registry_auth_retention", "keep")
        return _target_result(swarm.apply(plan, credentials, retention=retention))
    return _target_result(targets.docker(access).apply(plan, credentials))


def run(
    hm: Harbourmaster, principal: Principal, deployment_id: str, *, progress: Progress | None = None
) -> DeploymentPublic:
    """Carry out a prepared deployment (step 2 of the module docstring); the deployment as it ended.

    A failure is recorded on the deployment and audited (``deploy.failed``) and then raised; no
    credential is left behind on any path (the targets hand it over in memory, and the Kubernetes
    target deletes its Secret in a ``finally``).

    Raises:
        NotFound: no such deployment.
        DeploymentDenied: the verdict no longer allows an image.
        BadInput: a credential expired or its registry went away meanwhile.
        EngineUnreachable / ImagePullFailed / DeployError / NamespaceGone / RolloutTimeout: the target failed.
    """
    say = progress or (lambda _message: None)
    with hm.store.read() as tx:
        stored = tx.deployments.get(deployment_id)
    if stored is None:
        raise NotFound(f"deployment {deployment_id} does not exist")
    kubernetes = stored.kind == EnvironmentKind.KUBERNETES.value
    # Whoever runs it must be allowed to deploy there now, as that user (a job runs in its submitter's
    # name, with their role at the time it runs).
    _place(
        hm,
        principal,
        stored.environment,
        stored.tenant if kubernetes else None,
        None if kubernetes else stored.tenant,
    )
    stored = _save(hm, replace(stored, state=DeploymentState.DEPLOYING, error=None))
    try:
        env = named_environment(hm.snapshot(), stored.environment)
        # An expired credential is named as such before anything else (the verdict would deny it too).
        _credential_checks(hm, sorted({i["registry"] for i in stored.images}))
        say("checking the verdict on the pinned images")
        _rejudge(hm, principal, stored)
        say("fetching registry credentials")
        credentials = _pull_credentials(hm, principal, stored)
        result = _apply(hm, principal, stored, env, credentials, say)
    except BaseException as exc:
        message = exc.message if isinstance(exc, Error) else f"interrupted ({type(exc).__name__})"
        details = exc.details if isinstance(exc, Error) else []
        stored = _save(hm, replace(stored, state=DeploymentState.FAILED, error=message))
        with hm.store.transaction() as tx:
            tx.audit.append(
                actor=principal.audit_name, action="deploy.failed", target=f"deployment {stored.id}",
                result="failed",
                details={"name": stored.name, "environment": stored.environment, "tenant": stored.tenant,
                         "error": message, "problems": list(details)[:20], "images": _audit_images(stored)},
            )  # fmt: skip
        raise
    with hm.store.transaction() as tx:
        stored = replace(stored, state=DeploymentState.DEPLOYED, result=result, updated_at=hm.clock.now())
        tx.deployments.save(stored)
        tx.audit.append(
            actor=principal.audit_name, action="deploy.apply", target=f"deployment {stored.id}",
            details={"name": stored.name, "environment": stored.environment, "tenant": stored.tenant,
                     "verdict": stored.verdict_id, "images": _audit_images(stored), "result": result},
        )  # fmt: skip
    return DeploymentPublic.of(stored)


def _save(hm: Harbourmaster, stored: StoredDeployment) -> StoredDeployment:
    stored = replace(stored, updated_at=hm.clock.now())
    with hm.store.transaction() as tx:
        tx.deployments.save(stored)
    return stored


def check_deployment_payload(hm: Harbourmaster, payload: Mapping[str, object]) -> None:
    """Raises:
    BadInput: the payload does not name a deployment.
    NotFound: no such deployment.
    """
    deployment = payload.get("deployment")
    if not isinstance(deployment, str) or not deployment:
        raise BadInput('a deployment.apply job needs a payload {"deployment": "<id>"}')
    with hm.store.read() as tx:
        if tx.deployments.get(deployment) is None:
            raise NotFound(f"deployment {deployment} does not exist")


def run_deployment_job(
    hm: Harbourmaster, principal: Principal, payload: Mapping[str, object], progress: Any
) -> object:
    """The ``deployment.apply`` job: :func:`run` for the payload's deployment, its result as JSON."""
    deployment = payload.get("deployment")
    if not isinstance(deployment, str):
        raise BadInput('a deployment.apply job needs a payload {"deployment": "<id>"}')
    return run(hm, principal, deployment, progress=lambda m: progress(message=m)).model_dump(mode="json")


# -- reading and removing ---------------------------------------------------------------------------


def _visible(hm: Harbourmaster, principal: Principal, stored: StoredDeployment) -> bool:
    try:
        authorise_environment(hm, principal, stored.environment)
    except Forbidden:
        return False
    return True


def list_deployments(
    hm: Harbourmaster, principal: Principal, *, environment: str | None = None
) -> list[DeploymentPublic]:
    """Every deployment the principal may see (team members: on environments they have access to).

    Raises:
        Forbidden: ``principal`` may not read governance data.
        NotFound: no such environment.
    """
    require(principal, Permission.GOVERNANCE_READ)
    if environment is not None:
        named_environment(hm.snapshot(), environment)
    with hm.store.read() as tx:
        rows = tx.deployments.list(environment=environment)
    if principal.role is Role.TEAM_MEMBER:
        rows = [r for r in rows if _visible(hm, principal, r)]
    return [DeploymentPublic.of(r) for r in rows]


def _get(hm: Harbourmaster, principal: Principal, deployment_id: str) -> StoredDeployment:
    with hm.store.read() as tx:
        stored = tx.deployments.get(deployment_id)
    if stored is None or (principal.role is Role.TEAM_MEMBER and not _visible(hm, principal, stored)):
        raise NotFound(f"deployment {deployment_id} does not exist")
    return stored


def show_deployment(
    hm: Harbourmaster, principal: Principal, deployment_id: str, *, live: bool = True
) -> DeploymentPublic:
    """One deployment; with ``live``, what its Docker engine or Swarm reports now (Kubernetes: as kept).

    Raises:
        Forbidden: ``principal`` may not read governance data.
        NotFound: no such deployment (or not visible to the principal).
    """
    require(principal, Permission.GOVERNANCE_READ)
    stored = _get(hm, principal, deployment_id)
    public = DeploymentPublic.of(stored)
    if not live or stored.kind == EnvironmentKind.KUBERNETES.value or stored.state is DeploymentState.REMOVED:
        return public
    if principal.role not in (Role.ADMINISTRATOR, Role.PLATFORM_ENGINEER, Role.TEAM_MEMBER):
        return public  # reaching the engine opens its credential: deployers only
    try:
        env = named_environment(hm.snapshot(), stored.environment)
        target = _engine(hm, principal, env, f"show deployment {stored.id}")
        found = target.list(stored.id)
    except Error as exc:
        return public.model_copy(update={"live_error": exc.message})
    rows = [{"name": c.name, "service": c.service, "image": c.image, "state": c.state,
             "verdict": c.verdict_id} for c in found]  # fmt: skip
    return public.model_copy(update={"live": rows})


def _engine(hm: Harbourmaster, principal: Principal, env: Environment, purpose: str) -> DeploymentTarget:
    access = target_access(hm, env, actor=principal.audit_name, purpose=purpose)
    targets = connectors(hm)
    swarm: SwarmEngine | None = targets.swarm(access) if env.kind is EnvironmentKind.SWARM else None
    return swarm if swarm is not None else targets.docker(access)


def remove_deployment(hm: Harbourmaster, principal: Principal, deployment_id: str) -> DeploymentPublic:
    """Remove what a deployment runs (containers and networks, Swarm services, Kubernetes objects;
    named volumes are kept) and mark it removed; audited ``deploy.remove``.

    Raises:
        Forbidden: ``principal`` may not deploy to its environment (or as its user).
        NotFound: no such deployment.
        EngineUnreachable / DeployError: the target failed (the deployment is kept as it was).
    """
    stored = _get(hm, principal, deployment_id)
    kubernetes = stored.kind == EnvironmentKind.KUBERNETES.value
    place = _place(
        hm,
        principal,
        stored.environment,
        stored.tenant if kubernetes else None,
        None if kubernetes else stored.tenant,
    )
    env = place.environment
    if kubernetes:
        access = target_access(hm, env, actor=principal.audit_name, purpose=f"remove deployment {stored.id}")
        cluster = connectors(hm).kubernetes(access)
        try:
            documents = [d for d in yaml.safe_load_all(stored.content) if d is not None]
            removed = cluster.delete(stored.tenant, documents)
        finally:
            cluster.close()
    else:
        removed = _engine(hm, principal, env, f"remove deployment {stored.id}").remove(stored.id)
    with hm.store.transaction() as tx:
        stored = replace(stored, state=DeploymentState.REMOVED, updated_at=hm.clock.now(),
                         result={"removed": list(removed)})  # fmt: skip
        tx.deployments.save(stored)
        tx.audit.append(
            actor=principal.audit_name, action="deploy.remove", target=f"deployment {stored.id}",
            details={"name": stored.name, "environment": stored.environment, "tenant": stored.tenant,
                     "removed": list(removed)},
        )  # fmt: skip
    return DeploymentPublic.of(stored)
