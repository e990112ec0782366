"""Every setting harbourmaster reads from its environment, in one place.

Each field of :class:`Settings` is read from ``HARBOURMASTER_<FIELD>`` (upper
case) and documented by its ``description``; :func:`settings_reference`
renders them for the README, and a test keeps the two in step.  Values are
validated by pydantic: a bad one is bad input naming the variable.

Two variables are deliberately not fields: ``HARBOURMASTER_MASTER_KEY`` and
``HARBOURMASTER_MASTER_KEY_PREVIOUS`` hold key material, which the vault
reads straight from the environment (``Settings.environ``) so that no settings
object, log line or error ever holds it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from harbourmaster.errors import BadInput

__all__ = ["AUDIT_CHECKPOINT_FILE", "DATABASE_FILE", "ENV_PREFIX", "Settings", "settings_reference"]

#: The embedded SQLite database's file name inside HARBOURMASTER_HOME.
DATABASE_FILE = "harbourmaster.db"
#: The audit checkpoint file's default name inside HARBOURMASTER_HOME.
AUDIT_CHECKPOINT_FILE = "audit-checkpoints.jsonl"
ENV_PREFIX = "HARBOURMASTER_"
#: Settings where an empty variable means "none" rather than "unset: use the default".
_EMPTY_IS_A_VALUE = frozenset({"audit_checkpoint_syslog"})
#: Read by the vault from the environment, never held by Settings (see the module documentation).
VAULT_VARIABLES: dict[str, str] = {
    "HARBOURMASTER_MASTER_KEY": "The master key (base64 of 32 bytes) instead of the key file.",
    "HARBOURMASTER_MASTER_KEY_PREVIOUS": (
        "Comma-separated earlier master keys that may still wrap data keys (with HARBOURMASTER_MASTER_KEY)."
    ),
}


class Settings(BaseSettings):
    """harbourmaster's settings; see each field's description."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    home: Path = Field(
        default_factory=lambda: Path.home() / ".local/share/harbourmaster",
        description="The data directory: the SQLite database, the master key file and audit checkpoints.",
    )
    database_url: str = Field(
        default="",
        description="The database, e.g. postgresql+psycopg://user@db/harbourmaster; "
        "default: SQLite in the data directory.",
    )
    audit_checkpoint_file: Path = Field(
        default=Path(),
        description="Where signed audit checkpoints are appended; default: audit-checkpoints.jsonl in "
        "the data directory.",
    )
    audit_checkpoint_interval: float = Field(
        default=300.0,
        ge=0,
        allow_inf_nan=False,
        description="Seconds between the checkpoints serve writes when the log grew; 0: never.",
    )
    audit_checkpoint_syslog: str = Field(
        default="/dev/log", description="The syslog socket checkpoints are sent to; empty: none."
    )
    jit_reap_seconds: float = Field(
        default=60.0,
        ge=0,
        allow_inf_nan=False,
        description="Seconds between the passes serve makes over the Kubernetes environments to delete "
        "expired just-in-time pull Secrets (hm-jit-*) a killed deployment left; 0: never.",
    )
    mirror_scheduler_seconds: float = Field(
        default=60.0,
        ge=0,
        allow_inf_nan=False,
        description="Seconds between the passes serve makes over the governance document's scheduled "
        "mirrors, queueing a mirror job for each one due; 0: never.",
    )
    max_decision_images: int = Field(
        default=1000, ge=1, le=1_000_000, description="The most images one decision may name."
    )
    verdict_scan_seconds: float = Field(
        default=20.0,
        ge=0,
        le=600,
        allow_inf_nan=False,
        description="How long a verdict waits for the scan of an unscanned image on a tier with "
        "unscanned: scan (0: never scan; the image is denied as unscanned).",
    )
    admission_budget_seconds: float = Field(
        default=1.0,
        gt=0,
        le=30,
        allow_inf_nan=False,
        description="The longest an admission review waits for registries (pinning tags, scanning, "
        "verifying signatures); then the tier's unscanned rule applies and unverified signatures deny.",
    )
    deploy_timeout_seconds: int = Field(
        default=300,
        ge=10,
        le=3600,
        description="How long a deployment waits for its images to be pulled and its containers, Swarm "
        "tasks or pods to start before it fails. A Kubernetes deployment-window pull Secret expires 60 s "
        "after this (the reaper deletes one a killed deployment left).",
    )
    admission_verdict_seconds: float = Field(
        default=5.0,
        ge=0,
        le=300,
        allow_inf_nan=False,
        description="How long the admission webhook reuses a settled verdict on an image in a namespace "
        "(at the same model revision; 0: never). A new kept scan, a new signature or a moved tag is "
        "seen within this long; a change to the model at once (PostgreSQL) or within 1 s (SQLite).",
    )
    pull_credential_seconds: int = Field(
        default=300,
        ge=1,
        le=3600,
        description="The lifetime the kubelet credential provider is given for a registry's static "
        "username and password (minted ECR, ACR and GAR tokens keep their own, shorter, life).",
    )
    max_sbom_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1,
        le=1 << 30,
        description="The largest SBOM or scanner report accepted for a scan, in bytes.",
    )
    job_retry_seconds: float = Field(
        default=30,
        ge=0,
        le=3600,
        description="How long a background job waits after its first failed attempt before the next; "
        "doubled after each further failure, at most 15 minutes (0: retry at once).",
    )
    rotation_seconds: float = Field(
        default=300,
        ge=0,
        le=86400,
        description="How often serve rotates managed robot accounts that are due, retires replaced ones "
        "and raises expiry alerts (0: never).",
    )
    robot_grace_seconds: int | None = Field(
        default=None,
        ge=0,
        le=7 * 86400,
        description="How long a replaced robot account keeps working after rotation. Unset: the longer of "
        "the pull credential lifetime and the deployment timeout, plus 60 s.",
    )
    credential_webhook_url: str | None = Field(
        default=None,
        description="Where credential expiry alerts are POSTed; unset: nowhere (they are still audited "
        "and in the harbourmaster_credential_expiry_seconds metric).",
    )
    vuln_webhook_url: str | None = Field(
        default=None,
        description="Where newly affected images are POSTed after an advisory import; unset: nowhere.",
    )
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto", description="Log lines as JSON, as text, or auto: JSON unless stderr is a terminal."
    )
    log_level: Literal["debug", "info", "warning", "error"] | None = Field(
        default=None,
        description=(
            "The least severe log level written; default: info for serve, warning for other commands."
        ),
    )
    debug: bool = Field(
        default=False,
        description="Show the traceback of an unexpected error on the CLI (as --debug does), "
        "instead of one line naming it.",
    )
    oidc_issuer: str | None = Field(
        default=None,
        description="The OpenID Connect issuer the web UI offers sign-in with (its discovery document is "
        "ISSUER/.well-known/openid-configuration; https, or http on a loopback host); "
        "unset: API tokens only.",
    )
    oidc_client_id: str | None = Field(
        default=None, description="The web UI's client id at the OpenID Connect issuer."
    )
    oidc_client_secret: SecretStr | None = Field(
        default=None,
        description="The web UI's client secret at the OpenID Connect issuer (never logged or shown); "
        "unset: a public client (PKCE only).",
    )
    oidc_username_claim: str = Field(
        default="preferred_username",
        description="The ID token claim that names the governance model's user "
        "(whose role the session takes).",
    )
    oidc_redirect_base: str | None = Field(
        default=None,
        description="The web UI's external base URL, e.g. https://harbourmaster.corp: the issuer sends the "
        "browser back to BASE/ui/oidc/callback; unset: the URL the request came in on.",
    )
    #: The environment the settings came from (the vault reads key material from it).
    environ: Mapping[str, str] = Field(default_factory=dict, exclude=True, repr=False)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only what from_environ passes: the environment is read there, from the mapping given
        # (tests and the CLI pass their own), never implicitly from os.environ.
        return (init_settings,)

    def model_post_init(self, context: Any, /) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.home / DATABASE_FILE}")
        if self.audit_checkpoint_file == Path():
            object.__setattr__(self, "audit_checkpoint_file", self.home / AUDIT_CHECKPOINT_FILE)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``environ`` (default: the process environment).

        Empty variables count as unset, except where empty means "none" (the syslog socket).

        Raises:
            BadInput: a variable's value is invalid; the message names the variable, never its value.
        """
        env = dict(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            if name == "environ":
                continue
            key = ENV_PREFIX + name.upper()
            text = env.get(key, "").strip()
            if name in _EMPTY_IS_A_VALUE and key in env:
                values[name] = text
            elif text:
                values[name] = text.lower() if name in ("log_format", "log_level") else text
        try:
            return cls(**values, environ=env)
        except ValidationError as exc:
            problems = [
                f"{ENV_PREFIX}{str(e['loc'][0]).upper()}: {e['msg']}" for e in exc.errors(include_url=False)
            ]
            raise BadInput("invalid setting(s): " + "; ".join(problems), details=problems) from None


def settings_reference() -> list[tuple[str, str, str]]:
    """Every variable harbourmaster reads: (name, default, description)."""
    out = []
    for name, field in Settings.model_fields.items():
        if name == "environ":
            continue
        default = field.default
        shown = "" if field.default_factory is not None or default in (None, "", Path()) else str(default)
        out.append((ENV_PREFIX + name.upper(), shown, field.description or ""))
    out += [(name, "", text) for name, text in VAULT_VARIABLES.items()]
    return out
