"""A Gatekeeper ``ConstraintTemplate`` and ``Constraint`` enforcing an environment's registry grants.

Gatekeeper's library policy ``k8sallowedrepos`` compares a plain string prefix, so
``harbor.corp/payments`` admits ``harbor.corp/payments-evil/x``.  The Rego here parses and normalises
the reference as :mod:`harbourmaster.domain.reference` does (grammar, lower-case host, Docker Hub
aliases and ``library/``, tag and digest grammars, the 255-character name, image IDs) and compares
the host literally and the path by whole segments, as :mod:`harbourmaster.domain.matching` does.
The constraint's parameters carry the namespace → registry-prefix map; the template does not change
when grants do.
"""

from __future__ import annotations

from typing import Any

from harbourmaster.domain.admission_rules import AdmissionRules
from harbourmaster.domain.model import AdmissionMode

__all__ = ["CONSTRAINT_KIND", "REGO", "constraint", "constraint_template"]

CONSTRAINT_KIND = "HarbourmasterAllowedRegistries"
_TEMPLATE_NAME = CONSTRAINT_KIND.lower()

REGO = r"""package harbourmasterallowedregistries

violation[{"msg": msg}] {
  ns := review_namespace
  container := containers[_]
  not image_allowed(ns, container.image)
  msg := concat("", [
    container.field, "/", sprintf("%v", [container.name]), ": image ", sprintf("%v", [container.image]),
    " is not from a registry granted to namespace ", ns, " on environment ", input.parameters.environment,
  ])
}

review_namespace = ns {
  ns := input.review.namespace
  is_string(ns)
  ns != ""
} else = ns {
  ns := input.review.object.metadata.namespace
}

pod_specs[spec] {
  spec := input.review.object.spec
  not input.review.object.spec.template
  not input.review.object.spec.jobTemplate
}

pod_specs[spec] {
  spec := input.review.object.spec.template.spec
}

pod_specs[spec] {
  spec := input.review.object.spec.jobTemplate.spec.template.spec
}

containers[c] {
  spec := pod_specs[_]
  field := ["containers", "initContainers", "ephemeralContainers"][_]
  container := spec[field][_]
  name := object.get(container, "name", "")
  c := {"field": field, "name": name, "image": object.get(container, "image", null)}
}

image_allowed(ns, image) {
  ref := parse_reference(image)
  entry := input.parameters.namespaces[_]
  entry.name == ns
  prefix := entry.prefixes[_]
  covers(prefix, ref)
}

covers(prefix, ref) {
  not contains(prefix, "/")
  ref.domain == prefix
}

covers(prefix, ref) {
  i := indexof(prefix, "/")
  i > 0
  ref.domain == substring(prefix, 0, i)
  scope := substring(prefix, i + 1, -1)
  path_within(ref.path, scope)
}

path_within(path, scope) {
  path == scope
}

path_within(path, scope) {
  startswith(path, concat("", [scope, "/"]))
}

docker_hub_aliases := {"index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}

component := `[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`

domain_component := `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`

# A DNS name or IPv4 address, or a bracketed IPv6 address, and an optional port.
host_pattern := concat("", [
  "^(?:", domain_component, "(?:\\.", domain_component, ")*", `|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$`,
])

parse_reference(text) = ref {
  is_string(text)
  count(text) > 0
  count(text) <= 600
  regex.match(`^[a-zA-Z0-9._/:@\[\]+-]+$`, text)
  not regex.match(`^[a-f0-9]{64}$`, text)
  parts := split_digest(text)
  valid_digest(parts)
  name_parts := split_domain(parts[0])
  domain := name_parts[0]
  rest := split_tag(name_parts[1])
  regex.match(concat("", ["^", component, "(?:/", component, ")*$"]), rest[0])
  path := library_path(domain, rest[0])
  count(domain) + 1 + count(path) <= 255
  valid_tag(rest)
  ref := {"domain": domain, "path": path}
}

split_digest(text) = [text, false, ""] {
  indexof(text, "@") == -1
} else = [substring(text, 0, i), true, substring(text, i + 1, -1)] {
  i := indexof(text, "@")
}

valid_digest(parts) {
  parts[1] == false
}

valid_digest(parts) {
  parts[1] == true
  regex.match(`^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$`, parts[2])
}

looks_like_host(first) {
  first == "localhost"
}

looks_like_host(first) {
  contains(first, ".")
}

looks_like_host(first) {
  contains(first, ":")
}

split_domain(name) = ["docker.io", name] {
  indexof(name, "/") == -1
} else = [canonical_host(first), substring(name, i + 1, -1)] {
  i := indexof(name, "/")
  first := substring(name, 0, i)
  looks_like_host(first)
  regex.match(host_pattern, first)
} else = ["docker.io", name] {
  i := indexof(name, "/")
  first := substring(name, 0, i)
  not looks_like_host(first)
  lower(first) == first
}

canonical_host(first) = "docker.io" {
  docker_hub_aliases[lower(first)]
} else = lower(first)

split_tag(rest) = [rest, false, ""] {
  indexof(rest, ":") == -1
} else = [substring(rest, 0, i), true, substring(rest, i + 1, -1)] {
  i := indexof(rest, ":")
}

valid_tag(rest) {
  rest[1] == false
}

valid_tag(rest) {
  rest[1] == true
  regex.match(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`, rest[2])
}

library_path(domain, path) = concat("", ["library/", path]) {
  domain == "docker.io"
  not contains(path, "/")
} else = path
"""

_PARAMETERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "environment": {"type": "string"},
        "namespaces": {
            "type": "array",
            "description": "Per namespace, the registry prefixes (host[:port][/path]) granted there.",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "prefixes": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}


def constraint_template() -> dict[str, Any]:
    """The template (the same for every environment: the grants are the constraint's parameters)."""
    return {
        "apiVersion": "templates.gatekeeper.sh/v1",
        "kind": "ConstraintTemplate",
        "metadata": {
            "name": _TEMPLATE_NAME,
            "annotations": {
                "description": "Images only from registries granted to the namespace, "
                "matched at path-segment boundaries (harbourmaster)."
            },
        },
        "spec": {
            "crd": {
                "spec": {
                    "names": {"kind": CONSTRAINT_KIND},
                    "validation": {"openAPIV3Schema": _PARAMETERS_SCHEMA},
                }
            },
            "targets": [{"target": "admission.k8s.gatekeeper.sh", "rego": REGO}],
        },
    }


def constraint(rules: AdmissionRules) -> dict[str, Any]:
    """The constraint of one environment: its namespaces and their registry prefixes."""
    return {
        "apiVersion": "constraints.gatekeeper.sh/v1beta1",
        "kind": CONSTRAINT_KIND,
        "metadata": {
            "name": f"harbourmaster-{rules.environment}",
            "annotations": {
                "harbourmaster.io/environment": rules.environment,
                "harbourmaster.io/policy-fingerprint": rules.fingerprint,
            },
        },
        "spec": {
            "enforcementAction": "deny" if rules.mode is AdmissionMode.ENFORCE else "warn",
            "match": {
                "kinds": [
                    {"apiGroups": [""], "kinds": ["Pod", "ReplicationController"]},
                    {
                        "apiGroups": ["apps"],
                        "kinds": ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"],
                    },
                    {"apiGroups": ["batch"], "kinds": ["Job", "CronJob"]},
                ],
                "namespaces": [ns.namespace for ns in rules.namespaces],
            },
            "parameters": {
                "environment": rules.environment,
                "namespaces": [
                    {"name": ns.namespace, "prefixes": list(ns.prefixes)} for ns in rules.namespaces
                ],
            },
        },
    }
