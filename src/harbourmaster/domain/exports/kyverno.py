"""A Kyverno ``ClusterPolicy`` enforcing an environment's registry grants and signers.

One validate rule per namespace of the environment checks every container, init container and
ephemeral container (Kyverno's autogen carries the rule to Deployments, StatefulSets, DaemonSets,
ReplicaSets, ReplicationControllers, Jobs and CronJobs).  An image is denied unless it matches the
anchored regex of one granted registry (:func:`~harbourmaster.domain.image_patterns.location_regex`,
through Kyverno's ``regex_match`` JMESPath function on ``element.image``, so the image text is never
substituted into the expression), or when it is a bare image ID.  Wildcard patterns are not used: ``*``
crosses ``/``, is case-sensitive and cannot express Docker Hub short names.

When the tier requires signatures, a ``verifyImages`` rule requires every image (``*``) to be signed
by the tier's keys and keyless identities: ``count: 1`` for "any", every attestor for "all".
"""

from __future__ import annotations

from typing import Any

from harbourmaster.domain.admission_rules import AdmissionRules, NamespaceSources
from harbourmaster.domain.image_patterns import IMAGE_ID_REGEX, location_regex
from harbourmaster.domain.model import AdmissionMode

__all__ = [
    "AUTOGEN_CONTROLLERS",
    "CONTAINER_LIST",
    "ENVIRONMENT_ANNOTATION",
    "FINGERPRINT_ANNOTATION",
    "RULE_PREFIX",
    "SIGNATURE_RULE",
    "image_condition",
    "kyverno_policy",
    "policy_name",
]

AUTOGEN_CONTROLLERS = "DaemonSet,Deployment,Job,StatefulSet,ReplicaSet,ReplicationController,CronJob"
CONTAINER_LIST = "request.object.spec.[ephemeralContainers, initContainers, containers][]"
RULE_PREFIX = "registries-"
SIGNATURE_RULE = "signatures"
FINGERPRINT_ANNOTATION = "harbourmaster.io/policy-fingerprint"
ENVIRONMENT_ANNOTATION = "harbourmaster.io/environment"


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
                                {"key": image_condition(IMAGE_ID_REGEX), "operator": "Equals", "value": True}
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


def kyverno_policy(rules: AdmissionRules, *, failure_policy: str) -> dict[str, Any]:
    """The ``ClusterPolicy`` of ``rules`` (``failure_policy``: Fail or Ignore, the webhook's)."""
    rule_list = [_registry_rule(rules, ns) for ns in rules.namespaces]
    if rules.require_signature and (rules.keys or rules.identities):
        rule_list.append(_signature_rule(rules))
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
