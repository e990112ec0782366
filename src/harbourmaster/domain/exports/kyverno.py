"""A Kyverno ``ClusterPolicy`` enforcing an environment's registry grants and signers.

One validate rule per namespace of the environment checks every container, init container and
ephemeral container (Kyverno's autogen carries the rule to Deployments, StatefulSets, DaemonSets,
ReplicaSets, ReplicationControllers, Jobs and CronJobs).  An image is denied unless it matches the
anchored regex of one granted registry (:func:`~harbourmaster.domain.image_patterns.location_regex`,
through Kyverno's ``regex_match`` JMESPath function on ``element.image``, so the image text is never
substituted into the expression), or when it is a bare image ID, or when its name is over 255
characters.  Wildcard patterns are not used: ``*`` crosses ``/``, is case-sensitive and cannot express
Docker Hub short names.

The length rule is the one regexes cannot hold (:mod:`~harbourmaster.domain.image_patterns`): the
*normalised* name (``domain/path``, without tag or digest) of a reference is at most 255 characters
(:data:`~harbourmaster.domain.reference.NAME_MAX_LENGTH`).  :data:`NAME_LENGTH_KEY` rewrites the
image into that name with Kyverno's ``regex_replace_all`` (Go's ``Regexp.ReplaceAll``, each step
anchored at the start so it applies at most once) and compares its JMESPath ``length()``:

1. drop the tag and the digest;
2. Docker Hub's other host names (``index.docker.io`` ...) become ``docker.io``;
3. a name without ``/`` is on ``docker.io``;
4. a name whose first component is not a host (no ``.`` or ``:``, not ``localhost``) is on ``docker.io``;
5. a one-component path on ``docker.io`` gains ``library/``.

``nginx`` becomes ``docker.io/library/nginx`` (23 characters) and
``registry.hub.docker.com/team/app`` becomes ``docker.io/team/app``, as harbourmaster counts them.  The
steps are exact for references that follow the grammar, the only ones a grant's regex admits; what
they make of anything else does not change the verdict.

When the tier requires signatures, a ``verifyImages`` rule requires every image (``*``) to be signed
by the tier's keys and keyless identities: ``count: 1`` for "any", every attestor for "all".
"""

from __future__ import annotations

from typing import Any

from harbourmaster.domain.admission_rules import AdmissionRules, NamespaceSources
from harbourmaster.domain.image_patterns import IMAGE_ID_REGEX, location_regex
from harbourmaster.domain.matching import DOCKER_HUB_ALIASES
from harbourmaster.domain.model import AdmissionMode
from harbourmaster.domain.reference import DEFAULT_DOMAIN, NAME_MAX_LENGTH

__all__ = [
    "AUTOGEN_CONTROLLERS",
    "CONTAINER_LIST",
    "ENVIRONMENT_ANNOTATION",
    "FINGERPRINT_ANNOTATION",
    "NAME_LENGTH_KEY",
    "NAME_LENGTH_LIMIT",
    "NAME_STEPS",
    "RULE_PREFIX",
    "SIGNATURE_RULE",
    "UNVERIFIABLE_RULE",
    "image_condition",
    "kyverno_policy",
    "policy_name",
    "signature_gap",
]

AUTOGEN_CONTROLLERS = "DaemonSet,Deployment,Job,StatefulSet,ReplicaSet,ReplicationController,CronJob"
CONTAINER_LIST = "request.object.spec.[ephemeralContainers, initContainers, containers][]"
RULE_PREFIX = "registries-"
SIGNATURE_RULE = "signatures"
#: The rule that denies every image when Kyverno cannot check the tier's signature requirement.
UNVERIFIABLE_RULE = "signatures-unverifiable"
FINGERPRINT_ANNOTATION = "harbourmaster.io/policy-fingerprint"
ENVIRONMENT_ANNOTATION = "harbourmaster.io/environment"


#: The longest normalised name a reference may have; a longer one is denied (``GreaterThan``).
NAME_LENGTH_LIMIT = NAME_MAX_LENGTH

_LOCALHOST = "localhost"
_HUB_HOSTS = (DEFAULT_DOMAIN, *sorted(DOCKER_HUB_ALIASES))


def _not_word(word: str, chars: str) -> str:
    """Strings of the negated class ``[^chars]`` other than ``word`` (no look-ahead in RE2)."""
    n = len(word)
    options = [f"[^{chars}]{{{n + 1},}}", f"[^{chars}]{{0,{n - 1}}}"]
    for i, char in enumerate(word):
        rest = f"[^{chars}]{{{n - i - 1}}}" if n - i - 1 else ""
        options.append(f"{word[:i]}[^{chars}{char}]{rest}")
    return "(?:" + "|".join(options) + ")"


def _escape(text: str) -> str:
    return text.replace(".", "\\.")


#: (Go regex, Go replacement template) steps rewriting a reference into its normalised name.
NAME_STEPS: tuple[tuple[str, str], ...] = (
    # 1. the tag and the digest are not part of the name
    ("^([^@]*?)(?::[A-Za-z0-9_.-]*)?(?:@(?s:.*))?$", "${1}"),
    # 2. Docker Hub's other names (without a port) are docker.io
    ("^(?i:" + "|".join(_escape(h) for h in _HUB_HOSTS) + ")/", f"{DEFAULT_DOMAIN}/"),
    # 3. a name without "/" is on Docker Hub
    ("^([^/]*)$", f"{DEFAULT_DOMAIN}/${{1}}"),
    # 4. so is a name whose first component is not a host
    ("^(" + _not_word(_LOCALHOST, "/.:") + "/)", f"{DEFAULT_DOMAIN}/${{1}}"),
    # 5. a one-component path on Docker Hub is an official image
    (f"^{_escape(DEFAULT_DOMAIN)}/([^/]*)$", f"{DEFAULT_DOMAIN}/library/${{1}}"),
)


def _name_expression() -> str:
    expression = "element.image || ''"
    for regex, replacement in NAME_STEPS:
        expression = f"regex_replace_all('{regex}', {expression}, '{replacement}')"
    return f"length({expression})"


#: The JMESPath key whose value is the length of the container image's normalised name.
NAME_LENGTH_KEY = "{{ " + _name_expression() + " }}"


def policy_name(environment: str) -> str:
    return f"harbourmaster-{environment}"


def image_condition(regex: str) -> str:
    """The JMESPath key that is true when the container's image matches ``regex``."""
    return "{{ regex_match('" + regex.replace("'", "\\'") + "', element.image || '') }}"


def _registry_rule(rules: AdmissionRules, sources: NamespaceSources) -> dict[str, Any]:
    granted = ", ".join(sources.prefixes) or "none"
    regexes = list(dict.fromkeys(location_regex(loc) for loc in sources.locations))
    not_granted: dict[str, Any] = (
        {
            "conditions": {
                "all": [
                    {"key": image_condition(regex), "operator": "Equals", "value": False} for regex in regexes
                ]
            }
        }
        if regexes
        else {}  # nothing granted: every image is denied
    )
    return {
        "name": f"{RULE_PREFIX}{sources.namespace}",
        "match": {"any": [{"resources": {"kinds": ["Pod"], "namespaces": [sources.namespace]}}]},
        "validate": {
            "message": (
                f"image {{{{ element.image }}}} is not from a registry granted to namespace "
                f"{sources.namespace} on environment {rules.environment} (granted: {granted})"
            ),
            "foreach": [
                {"list": CONTAINER_LIST, "deny": not_granted},
                {
                    "list": CONTAINER_LIST,
                    "deny": {
                        "conditions": {
                            "any": [
                                {"key": image_condition(IMAGE_ID_REGEX), "operator": "Equals", "value": True},
                                {
                                    "key": NAME_LENGTH_KEY,
                                    "operator": "GreaterThan",
                                    "value": NAME_LENGTH_LIMIT,
                                },
                            ]
                        }
                    },
                },
            ],
        },
    }


def _attestors(rules: AdmissionRules) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = [
        {"keys": {"publicKeys": key.public_key_pem.strip() + "\n"}} for key in rules.keys
    ]
    entries += [
        {"keyless": {"issuer": identity.issuer, "subjectRegExp": f"^(?:{identity.subject_regex})$"}}
        for identity in rules.identities
    ]
    if rules.signers_required == "any":
        return [{"count": 1, "entries": entries}]
    return [{"entries": [entry]} for entry in entries]


def _signature_rule(rules: AdmissionRules) -> dict[str, Any]:
    return {
        "name": SIGNATURE_RULE,
        "match": {
            "any": [
                {
                    "resources": {
                        "kinds": ["Pod"],
                        "namespaces": [ns.namespace for ns in rules.namespaces],
                    }
                }
            ]
        },
        "verifyImages": [
            {
                "imageReferences": ["*"],
                "mutateDigest": False,
                "verifyDigest": True,
                "required": True,
                "attestors": _attestors(rules),
            }
        ],
    }


def _namespaces(rules: AdmissionRules) -> list[str]:
    return [ns.namespace for ns in rules.namespaces]


def signature_gap(rules: AdmissionRules) -> str | None:
    """Why the tier's signature requirement cannot be checked by Kyverno as exported (a signer it needs
    is a Notation trust policy, or it names no signer at all), or None.  The export then denies every
    image (:data:`UNVERIFIABLE_RULE`): stricter than harbourmaster, never looser."""
    if not rules.require_signature:
        return None
    notation = ", ".join(rules.unexported_signers)
    if not (rules.keys or rules.identities):
        if not notation:
            return "the tier requires a signature but names no signer, so no image can satisfy it"
        return f"the tier's signers ({notation}) are Notation trust policies, which this export cannot check"
    if rules.signers_required == "all" and notation:
        return f"the tier requires every signer, and {notation} (Notation) cannot be checked by this export"
    return None


def _unverifiable_rule(rules: AdmissionRules, gap: str) -> dict[str, Any]:
    return {
        "name": UNVERIFIABLE_RULE,
        "match": {"any": [{"resources": {"kinds": ["Pod"], "namespaces": _namespaces(rules)}}]},
        "validate": {
            "message": (
                f"image {{{{ element.image }}}} is denied on environment {rules.environment}: {gap}; "
                "harbourmaster's own webhook checks these signatures"
            ),
            "foreach": [{"list": CONTAINER_LIST, "deny": {}}],
        },
    }


def kyverno_policy(rules: AdmissionRules, *, failure_policy: str) -> dict[str, Any]:
    """The ``ClusterPolicy`` of ``rules`` (``failure_policy``: Fail or Ignore, the webhook's)."""
    rule_list = [_registry_rule(rules, ns) for ns in rules.namespaces]
    if rules.require_signature and (rules.keys or rules.identities):
        rule_list.append(_signature_rule(rules))
    gap = signature_gap(rules)
    if gap is not None:
        rule_list.append(_unverifiable_rule(rules, gap))
    annotations = {
        "policies.kyverno.io/title": f"harbourmaster rules of environment {rules.environment}",
        "policies.kyverno.io/description": (
            "Generated by `harbourmaster policy export`; check it with `harbourmaster policy diff`."
        ),
        "pod-policies.kyverno.io/autogen-controllers": AUTOGEN_CONTROLLERS,
        ENVIRONMENT_ANNOTATION: rules.environment,
        FINGERPRINT_ANNOTATION: rules.fingerprint,
    }
    if rules.unexported_signers:
        annotations["harbourmaster.io/unexported-signers"] = ",".join(rules.unexported_signers)
    return {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {"name": policy_name(rules.environment), "annotations": annotations},
        "spec": {
            "validationFailureAction": "Enforce" if rules.mode is AdmissionMode.ENFORCE else "Audit",
            "failurePolicy": failure_policy,
            "background": True,
            "webhookTimeoutSeconds": 10,
            "rules": rule_list,
        },
    }
