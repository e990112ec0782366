"""Registries: add one from a provider template, edit it, delete it, and hide or show the built-in
anonymous Docker Hub (globally or per environment).

Each form is read into the same fields the API's ``RegistryCreate``/``RegistryUpdate`` carry and handed to
:func:`harbourmaster.services.governance.put_registry`; every rule is the service's.  Secret fields are
write-only: never filled in, never sent back (not even when the form is shown again with its problems),
and an empty one keeps the stored secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from harbourmaster.domain.authz import Permission, Principal
from harbourmaster.domain.model import CredentialKind, Provider
from harbourmaster.domain.secret import Secret
from harbourmaster.domain.state import StateInvalid, Violation
from harbourmaster.errors import BadInput, Conflict, Error
from harbourmaster.services import governance, governance_reads
from harbourmaster.services.document import PROVIDER_FIELDS
from harbourmaster.services.registry_settings import registry_settings
from harbourmaster.web.access import Acting, Form, acting, core, viewing
from harbourmaster.web.pages import REGISTRIES, Viewer, render
from harbourmaster.web.route import UiRoute

__all__ = ["ADD_PATH", "ANONYMOUS_PATH", "PROVIDERS", "WRITE_PERMISSION", "FormProblems", "problems_of",
           "provider_fields", "registry_fields", "router"]

#: Adding, changing, deleting and hiding registries: what the API's registry writes require.
WRITE_PERMISSION: Final = Permission.GOVERNANCE_WRITE
ADD_PATH: Final = f"{REGISTRIES.path}/new"
ANONYMOUS_PATH: Final = f"{REGISTRIES.path}/dockerhub-anonymous/visibility"

#: The provider templates offered, in order, with the name people know each by.
PROVIDERS: Final[Mapping[Provider, str]] = {
    Provider.HARBOR: "Harbor",
    Provider.DOCKERHUB: "Docker Hub",
    Provider.GHCR: "GitHub Container Registry",
    Provider.QUAY: "Quay",
    Provider.GITLAB: "GitLab Container Registry",
    Provider.ECR: "Amazon ECR",
    Provider.ACR: "Azure Container Registry",
    Provider.GAR: "Google Artifact Registry",
    Provider.PROGET: "ProGet",
    Provider.CUSTOM: "Another OCI registry",
}
#: An example address for each provider's URL field (a placeholder, never a value).
_URL_EXAMPLES: Final[Mapping[Provider, str]] = {
    Provider.HARBOR: "https://harbor.example.com",
    Provider.DOCKERHUB: "https://registry-1.docker.io",
    Provider.GHCR: "https://ghcr.io",
    Provider.QUAY: "https://quay.io",
    Provider.GITLAB: "https://registry.gitlab.example.com",
    Provider.ECR: "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    Provider.ACR: "https://example.azurecr.io",
    Provider.GAR: "https://europe-west1-docker.pkg.dev",
    Provider.PROGET: "https://proget.example.com",
    Provider.CUSTOM: "https://registry.example.com",
}
#: Each provider-specific field's label and hint.
_FIELD_TEXT: Final[Mapping[str, tuple[str, str]]] = {
    "region": ("AWS region", "e.g. eu-west-1."),
    "account": ("AWS account id", "Twelve digits."),
    "instance": ("GitLab instance", "The GitLab instance's address."),
    "project": ("Project", "The GitLab project, or the Google Cloud project."),
    "organisation": ("Organisation", "The organisation whose images this registry holds."),
    "feed_url": ("ProGet feed URL", "The address of the ProGet feed."),
    "tenant": ("Azure tenant", "The Azure tenant of the registry."),
}

router = APIRouter(route_class=UiRoute, include_in_schema=False)


@dataclass(frozen=True, slots=True)
class ProviderField:
    name: str
    label: str
    hint: str


def provider_fields(provider: Provider) -> list[ProviderField]:
    """The provider-specific fields ``provider`` takes (the document's ``PROVIDER_FIELDS``)."""
    return [ProviderField(name, *_FIELD_TEXT.get(name, (name, "")))
            for name, providers in PROVIDER_FIELDS.items() if provider in providers]


@dataclass
class FormProblems:
    """A refused form's problems: by form field (shown beside it) and the rest (shown above the form)."""

    summary: str = ""
    fields: dict[str, list[str]] = field(default_factory=dict)
    other: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.summary or self.fields or self.other)


def problems_of(exc: Error, *, prefix: str | None = None) -> FormProblems:
    """``exc``'s violations placed by form field: with ``prefix`` ``registry x.``, the violation of
    ``registry x.credential.secret`` is shown beside ``credential_secret``; any other above the form."""
    out = FormProblems(summary=exc.message)
    if isinstance(exc, StateInvalid):
        for v in exc.violations:
            path = v.path.removeprefix(prefix) if prefix else v.path
            if prefix and path != v.path and path:
                out.fields.setdefault(path.replace(".", "_"), []).append(v.message)
            else:
                out.other.append(str(v))
    elif exc.details:
        out.other.extend(exc.details)
    return out


def _checked(form: Form, name: str) -> bool:
    return form.get(name) in ("on", "true", "1")


def _optional(form: Form, name: str) -> str | None:
    return form.get(name).strip() or None


def registry_fields(form: Form, provider: Provider, *, name: str, create: bool
                    ) -> tuple[dict[str, Any], Secret | None, Secret | None]:
    """The form as the API's body would give it to ``put_registry``: the fields, the credential's secret
    and the TLS client key (each None when left empty: the stored one is kept).

    Raises:
        StateInvalid: a secret was given without the user name it belongs to.
    """
    fields: dict[str, Any] = {"url": form.get("url").strip(), "scope": _optional(form, "scope"),
                              "public": _checked(form, "public"),
                              "oci_artifacts": _checked(form, "oci_artifacts")}
    if create:
        fields["provider"] = provider.value
    for f in provider_fields(provider):
        value = _optional(form, f.name)
        if value is not None or not create:  # an emptied field on an edit clears it
            fields[f.name] = value
    username = form.get("credential_username").strip()
    secret_text = form.get("credential_secret")
    if username:
        fields["credential"] = {"kind": form.get("credential_kind", CredentialKind.USER.value),
                                "username": username, "expires": _optional(form, "credential_expires")}
    elif secret_text:
        raise StateInvalid([Violation(f"registry {name}.credential.username",
                                      "a secret needs the user name it belongs to")])
    elif not create:
        fields["credential"] = None  # an emptied user name on an edit: anonymous from now on
    tls = {"ca_bundle": _optional(form, "tls_ca_bundle"),
           "client_certificate": _optional(form, "tls_client_certificate"),
           "insecure": _checked(form, "tls_insecure")}
    if any(tls.values()):
        fields["tls"] = tls
    elif not create:
        fields["tls"] = None
    key_text = form.get("tls_client_key")
    return (fields, Secret(secret_text) if secret_text and username else None,
            Secret(key_text) if key_text else None)


def _values_of(document: Mapping[str, Any]) -> dict[str, str]:
    """A stored registry's document as form values (it holds no secret)."""
    values = {k: str(v) for k, v in document.items() if isinstance(v, str)}
    cred = document.get("credential") or {}
    tls = document.get("tls") or {}
    values.update({"credential_kind": str(cred.get("kind", "")),
                   "credential_username": str(cred.get("username", "")),
                   "credential_expires": str(cred.get("expires", "")),
                   "tls_ca_bundle": str(tls.get("ca_bundle", "")),
                   "tls_client_certificate": str(tls.get("client_certificate", ""))})
    for flag in ("public", "oci_artifacts"):
        values[flag] = "on" if document.get(flag) else ""
    values["tls_insecure"] = "on" if tls.get("insecure") else ""
    return values


_NOT_ECHOED: Final = frozenset({"credential_secret", "tls_client_key"})


def _values_from(form: Form) -> dict[str, str]:
    """What was typed, to fill the form in again: every field but the secrets."""
    return {k: form.get(k) for k in form.fields if k not in _NOT_ECHOED and len(form.fields[k]) == 1}


def _form_page(request: Request, viewer: Viewer, *, provider: Provider, values: Mapping[str, str],
               name: str | None, stored: Mapping[str, bool] | None = None,
               problems: FormProblems | None = None,
               saved: str | None = None, status: int = 200) -> Response:
    return render(request, viewer, "registry_form.html", {
        "page": REGISTRIES, "provider": provider, "provider_label": PROVIDERS.get(provider, provider.value),
        "fields": provider_fields(provider), "values": values, "name": name, "stored": stored or {},
        "problems": problems or FormProblems(), "kinds": list(CredentialKind),
        "url_example": _URL_EXAMPLES.get(provider, ""), "saved": saved,
        "action": ADD_PATH if name is None else f"{REGISTRIES.path}/{quote(name, safe='')}/edit",
    }, status=status)


def _provider(text: str) -> Provider | None:
    try:
        provider = Provider(text)
    except ValueError:
        return None
    return provider if provider in PROVIDERS else None


@router.get(ADD_PATH)
def add_page(request: Request, viewer: Annotated[Viewer, Depends(viewing(WRITE_PERMISSION))],
             provider: str = "") -> Response:
    chosen = _provider(provider)
    if chosen is None:
        return render(request, viewer, "registry_providers.html", {
            "page": REGISTRIES, "providers": PROVIDERS, "add_path": ADD_PATH, "unknown": provider or None,
        }, status=422 if provider else 200)
    return _form_page(request, viewer, provider=chosen, values={"credential_kind": CredentialKind.USER.value},
                      name=None)


@router.post(ADD_PATH)
def add_registry(request: Request, act: Annotated[Acting, Depends(acting(WRITE_PERMISSION))]) -> Response:
    principal, form = _principal(act), act.form
    provider = _provider(form.get("provider"))
    if provider is None:
        raise BadInput(f"choose a provider: {', '.join(p.value for p in PROVIDERS)}")
    name = form.get("name").strip()
    try:
        fields, secret, key = registry_fields(form, provider, name=name, create=True)
        governance.put_registry(core(request), principal, name=name, fields=fields, create=True,
                                secret=secret, client_key=key)
    except (BadInput, Conflict) as exc:
        return _form_page(request, act.viewer, provider=provider, values=_values_from(form), name=None,
                          problems=problems_of(exc, prefix=f"registry {name}."), status=exc.status)
    return RedirectResponse(f"{REGISTRIES.path}/{quote(name, safe='')}/edit?saved=added", status_code=303)


def _principal(act: Acting | Viewer) -> Principal:
    viewer = act.viewer if isinstance(act, Acting) else act
    assert viewer.principal is not None
    return viewer.principal


@router.get(REGISTRIES.path + "/{name}/edit")
def edit_page(request: Request, name: str, viewer: Annotated[Viewer, Depends(viewing(WRITE_PERMISSION))],
              saved: str = "") -> Response:
    hm, principal = core(request), _principal(viewer)
    document = registry_settings(hm, principal, name)
    reg = governance_reads.registry(hm, principal, name)
    return _form_page(request, viewer, provider=Provider(document["provider"]), values=_values_of(document),
                      name=name, stored=_stored(reg.credential is not None and reg.credential.secret_set,
                                                reg.tls.client_key_set),
                      saved={"added": "added", "changed": "saved"}.get(saved))


def _stored(secret: bool, key: bool) -> dict[str, bool]:
    return {"credential_secret": secret, "tls_client_key": key}


@router.post(REGISTRIES.path + "/{name}/edit")
def edit_registry(request: Request, name: str,
                  act: Annotated[Acting, Depends(acting(WRITE_PERMISSION))]) -> Response:
    hm, principal, form = core(request), _principal(act), act.form
    document = registry_settings(hm, principal, name)
    provider = Provider(document["provider"])
    try:
        fields, secret, key = registry_fields(form, provider, name=name, create=False)
        governance.put_registry(hm, principal, name=name, fields=fields, create=False, secret=secret,
                                client_key=key)
    except (BadInput, Conflict) as exc:
        reg = governance_reads.registry(hm, principal, name)
        return _form_page(request, act.viewer, provider=provider, values=_values_from(form), name=name,
                          stored=_stored(reg.credential is not None and reg.credential.secret_set,
                                         reg.tls.client_key_set),
                          problems=problems_of(exc, prefix=f"registry {name}."), status=exc.status)
    return RedirectResponse(f"{REGISTRIES.path}/{quote(name, safe='')}/edit?saved=changed", status_code=303)


@router.get(REGISTRIES.path + "/{name}/delete")
def delete_page(request: Request, name: str, viewer: Annotated[Viewer, Depends(viewing(WRITE_PERMISSION))]
                ) -> Response:
    reg = governance_reads.registry(core(request), _principal(viewer), name)
    return render(request, viewer, "registry_delete.html", {"page": REGISTRIES, "registry": reg})


@router.post(REGISTRIES.path + "/{name}/delete")
def delete_registry(request: Request, name: str,
                    act: Annotated[Acting, Depends(acting(WRITE_PERMISSION))]) -> Response:
    governance.delete_registry(core(request), _principal(act), name)
    return render(request, act.viewer, "registry_deleted.html", {"page": REGISTRIES, "name": name})


@router.get(ANONYMOUS_PATH)
def anonymous_page(request: Request, viewer: Annotated[Viewer, Depends(viewing(WRITE_PERMISSION))],
                   saved: str = "") -> Response:
    hm, principal = core(request), _principal(viewer)
    builtin = [r for r in governance_reads.list_registries(hm, principal) if r.builtin]
    return render(request, viewer, "registry_anonymous.html", {
        "page": REGISTRIES, "action": ANONYMOUS_PATH, "saved": bool(saved),
        "hidden": any(r.hidden for r in builtin),
        "environments": governance_reads.list_environments(hm, principal),
    })


@router.post(ANONYMOUS_PATH)
def set_anonymous(request: Request, act: Annotated[Acting, Depends(acting(WRITE_PERMISSION))]) -> Response:
    form = act.form
    hidden = form.get("hidden")
    if hidden not in ("true", "false"):
        raise BadInput("say whether to hide (hidden=true) or show (hidden=false) Docker Hub anonymous")
    environment = form.get("environment").strip() or None
    governance.set_hide_anonymous(core(request), _principal(act), hidden=hidden == "true",
                                  environment=environment)
    return RedirectResponse(f"{ANONYMOUS_PATH}?saved=1", status_code=303)

