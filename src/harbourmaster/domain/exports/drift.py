"""What an exported (or hand-edited) Kyverno or Gatekeeper policy enforces, against the model (D-07).

Each reader takes the parsed YAML documents of a file and the :class:`AdmissionRules` the governance
model gives today, and lists every difference as a :class:`Drift`: a namespace whose registries were
added or removed, a registry pattern that is no longer the one harbourmaster writes (so what it
admits cannot be named), a namespace outside the environment, a missing or changed key or keyless
identity, another enforcement mode, Rego that is not harbourmaster's, a policy exported under rules
that have changed since (the fingerprint annotation), a Kyverno rule without the image-ID or the
255-character name guard.

The Cilium egress export is not read back: it carries no rules of its own to compare (its hosts, and
the blob hosts of :mod:`~harbourmaster.domain.exports.cilium`, follow from the same grants).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harbourmaster.domain.admission_rules import AdmissionRules
from harbourmaster.domain.exports.gatekeeper import CONSTRAINT_KIND, REGO
from harbourmaster.domain.exports.kyverno import (
    FINGERPRINT_ANNOTATION,
    NAME_LENGTH_KEY,
    NAME_LENGTH_LIMIT,
    RULE_PREFIX,
    UNVERIFIABLE_RULE,
    signature_gap,
)
from harbourmaster.domain.image_patterns import IMAGE_ID_REGEX, location_of_regex
from harbourmaster.domain.model import AdmissionMode

__all__ = ["Drift", "gatekeeper_drift", "kyverno_drift"]

_CONDITION = re.compile(r"^\{\{ regex_match\('(?P<regex>(?:[^'\\]|\\.)*)', element\.image \|\| ''\) \}\}$")


@dataclass(frozen=True, slots=True)
class Drift:
    """One way a layer's rules differ from the governance model."""

    layer: str
    subject: str
    detail: str


def _get(node: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _list(node: Any) -> list[Any]:
    return node if isinstance(node, list) else []


def _compare_prefixes(
    layer: str, namespace: str, expected: Iterable[str], found: Iterable[str]
) -> list[Drift]:
    want, have = set(expected), set(found)
    drifts = [
        Drift(layer, f"namespace {namespace}", f"admits registry {p}, which is not granted there")
        for p in sorted(have - want)
    ]
    drifts += [
        Drift(layer, f"namespace {namespace}", f"does not admit registry {p}, which is granted there")
        for p in sorted(want - have)
    ]
    return drifts


def _fingerprint(layer: str, doc: Mapping[str, Any], rules: AdmissionRules) -> list[Drift]:
    found = _get(doc, "metadata", "annotations", FINGERPRINT_ANNOTATION)
    if found != rules.fingerprint:
        return [
            Drift(
                layer,
                f"{doc.get('kind')} {_get(doc, 'metadata', 'name')}",
                f"exported under rules with fingerprint {found or 'none'}; the environment's "
                f"rules are now {rules.fingerprint}",
            )
        ]
    return []


def _namespaces_of(rule: Mapping[str, Any]) -> list[str] | None:
    """The namespaces a Kyverno rule matches; None when it matches every namespace."""
    blocks = _list(_get(rule, "match", "any")) + _list(_get(rule, "match", "all"))
    resources = [_get(b, "resources") for b in blocks] or [_get(rule, "match", "resources")]
    names: list[str] = []
    for resource in resources:
        listed = _get(resource, "namespaces")
        if not listed or "*" in listed:
            return None
        names += [str(n) for n in listed]
    return names


@dataclass(frozen=True, slots=True)
class _RuleConditions:
    """What the conditions of one Kyverno registry rule say."""

    #: The grant regexes (an image matching none is denied).
    regexes: tuple[str, ...]
    #: Bare image IDs are denied.
    id_guard: bool
    #: Names over 255 characters are denied.
    length_guard: bool
    #: Conditions harbourmaster does not write.
    unreadable: tuple[str, ...]


def _is_length_guard(condition: Any) -> bool:
    return (
        _get(condition, "key") == NAME_LENGTH_KEY
        and _get(condition, "operator") == "GreaterThan"
        and _get(condition, "value") == NAME_LENGTH_LIMIT
        and not isinstance(_get(condition, "value"), bool)
    )


def _rule_conditions(rule: Mapping[str, Any]) -> _RuleConditions:
    regexes: list[str] = []
    unreadable: list[str] = []
    id_guard = length_guard = False
    for each in _list(_get(rule, "validate", "foreach")):
        conditions = _get(each, "deny", "conditions")
        for key, value in (("all", False), ("any", True)):
            for condition in _list(_get(conditions, key)):
                if value and _is_length_guard(condition):
                    length_guard = True
                    continue
                match = _CONDITION.match(str(_get(condition, "key")))
                regex = match["regex"].replace("\\'", "'") if match else None
                if regex == IMAGE_ID_REGEX and value and _get(condition, "value") is True:
                    id_guard = True
                elif regex is not None and not value and _get(condition, "value") is False:
                    regexes.append(regex)
                else:
                    unreadable.append(str(_get(condition, "key")))
    return _RuleConditions(tuple(regexes), id_guard, length_guard, tuple(unreadable))


def _kyverno_signatures(rules: AdmissionRules, policy: Mapping[str, Any]) -> list[Drift]:
    keys: set[str] = set()
    identities: set[tuple[str, str]] = set()
    counts: list[Any] = []
    for rule in _list(_get(policy, "spec", "rules")):
        for verify in _list(_get(rule, "verifyImages")):
            if "*" not in _list(_get(verify, "imageReferences")):
                subject = f"rule {_get(rule, 'name')}"
                return [Drift("kyverno", subject, "verifies only some images (imageReferences is not '*')")]
            for attestor in _list(_get(verify, "attestors")):
                counts.append(_get(attestor, "count"))
                for entry in _list(_get(attestor, "entries")):
                    pem = _get(entry, "keys", "publicKeys")
                    if isinstance(pem, str):
                        keys.add(pem.strip())
                    issuer, subject = (
                        _get(entry, "keyless", "issuer"),
                        _get(entry, "keyless", "subjectRegExp"),
                    )
                    if issuer is not None:
                        identities.add((str(issuer), str(subject)))
    want_keys = {k.public_key_pem.strip(): k.name for k in rules.keys}
    want_ids = {(i.issuer, f"^(?:{i.subject_regex})$"): i.name for i in rules.identities}
    drifts = [
        Drift("kyverno", "signatures", f"key {name} is not required")
        for pem, name in want_keys.items()
        if pem not in keys
    ]
    drifts += [
        Drift("kyverno", "signatures", "a public key that is not a signer of the tier is accepted")
        for pem in keys - set(want_keys)
    ]
    drifts += [
        Drift("kyverno", "signatures", f"keyless identity {name} is not required")
        for ident, name in want_ids.items()
        if ident not in identities
    ]
    drifts += [
        Drift("kyverno", "signatures", f"keyless identity {issuer} {subject} is not a signer of the tier")
        for issuer, subject in identities - set(want_ids)
    ]
    if rules.require_signature and (want_keys or want_ids) and not (keys or identities):
        drifts.append(Drift("kyverno", "signatures", "the tier requires signatures; no image is verified"))
    any_of = counts == [1]
    if (
        (keys or identities)
        and rules.signers_required == "any"
        and not any_of
        and len(want_keys) + len(want_ids) > 1
    ):
        drifts.append(Drift("kyverno", "signatures", "every signer is required; the tier asks for any one"))
    if rules.signers_required == "all" and any(c is not None for c in counts):
        drifts.append(
            Drift("kyverno", "signatures", "a count lets some signers be skipped; the tier asks for all")
        )
    gap = signature_gap(rules)
    found_rules = _list(_get(policy, "spec", "rules"))
    if gap is not None and not any(_denies_every_image(rule, rules) for rule in found_rules):
        drifts.append(Drift("kyverno", "signatures", f"admits images harbourmaster denies: {gap}"))
    return drifts


def _denies_every_image(rule: Any, rules: AdmissionRules) -> bool:
    """Whether ``rule`` is the export's deny-all for a signature requirement Kyverno cannot check."""
    wanted = {ns.namespace for ns in rules.namespaces}
    found = _namespaces_of(rule)
    return (
        _get(rule, "name") == UNVERIFIABLE_RULE
        and (found is None or wanted <= set(found))
        and any(_get(each, "deny") == {} for each in _list(_get(rule, "validate", "foreach")))
    )


def kyverno_drift(rules: AdmissionRules, documents: Iterable[Any], *, failure_policy: str) -> list[Drift]:
    """Every difference between the ``ClusterPolicy`` in ``documents`` and ``rules``."""
    policies = [
        d for d in documents if isinstance(d, Mapping) and d.get("kind") in ("ClusterPolicy", "Policy")
    ]
    if not policies:
        return [Drift("kyverno", "file", "no Kyverno ClusterPolicy found")]
    drifts: list[Drift] = []
    found: dict[str, set[str]] = {}
    wanted = {ns.namespace for ns in rules.namespaces}
    for policy in policies:
        drifts += _fingerprint("kyverno", policy, rules)
        action = _get(policy, "spec", "validationFailureAction")
        want_action = "Enforce" if rules.mode is AdmissionMode.ENFORCE else "Audit"
        if str(action).lower() != want_action.lower():
            drifts.append(
                Drift(
                    "kyverno",
                    "validationFailureAction",
                    f"is {action}; the environment's admission mode asks for {want_action}",
                )
            )
        if _get(policy, "spec", "failurePolicy") != failure_policy:
            drifts.append(
                Drift(
                    "kyverno",
                    "failurePolicy",
                    f"is {_get(policy, 'spec', 'failurePolicy')}; the environment's is {failure_policy}",
                )
            )
        for rule in _list(_get(policy, "spec", "rules")):
            name = str(_get(rule, "name"))
            if not name.startswith(RULE_PREFIX) or _get(rule, "validate") is None:
                continue
            namespaces = _namespaces_of(rule)
            if namespaces is None:
                drifts.append(Drift("kyverno", f"rule {name}", "matches every namespace"))
                namespaces = sorted(wanted)
            found_conditions = _rule_conditions(rule)
            for key in found_conditions.unreadable:
                drifts.append(
                    Drift("kyverno", f"rule {name}", f"has a condition harbourmaster did not write: {key}")
                )
            prefixes: set[str] = set()
            for regex in found_conditions.regexes:
                location = location_of_regex(regex)
                if location is None:
                    drifts.append(
                        Drift(
                            "kyverno",
                            f"rule {name}",
                            f"admits images matching {regex}, which is "
                            "not the pattern of any registry prefix (edited by hand?)",
                        )
                    )
                else:
                    prefixes.add(location.prefix)
            if not found_conditions.id_guard:
                drifts.append(Drift("kyverno", f"rule {name}", "does not deny bare image IDs"))
            if not found_conditions.length_guard:
                drifts.append(
                    Drift(
                        "kyverno", f"rule {name}", f"does not deny names over {NAME_LENGTH_LIMIT} characters"
                    )
                )
            for namespace in namespaces:
                if namespace not in wanted:
                    drifts.append(
                        Drift(
                            "kyverno",
                            f"namespace {namespace}",
                            f"is matched by rule {name} but is not a namespace of environment "
                            f"{rules.environment}",
                        )
                    )
                    continue
                found.setdefault(namespace, set()).update(prefixes)
    for sources in rules.namespaces:
        if sources.namespace not in found:
            drifts.append(
                Drift("kyverno", f"namespace {sources.namespace}", "no rule restricts its registries")
            )
            continue
        drifts += _compare_prefixes("kyverno", sources.namespace, sources.prefixes, found[sources.namespace])
    for policy in policies:
        drifts += _kyverno_signatures(rules, policy)
    return drifts


def gatekeeper_drift(rules: AdmissionRules, documents: Iterable[Any]) -> list[Drift]:
    """Every difference between the ``ConstraintTemplate`` and constraint in ``documents`` and ``rules``."""
    docs = [d for d in documents if isinstance(d, Mapping)]
    templates = [d for d in docs if d.get("kind") == "ConstraintTemplate"]
    constraints = [d for d in docs if d.get("kind") == CONSTRAINT_KIND]
    drifts: list[Drift] = []
    if not templates:
        drifts.append(Drift("gatekeeper", "file", "no ConstraintTemplate found"))
    for template in templates:
        for target in _list(_get(template, "spec", "targets")):
            if str(_get(target, "rego")).strip() != REGO.strip():
                drifts.append(
                    Drift(
                        "gatekeeper",
                        f"ConstraintTemplate {_get(template, 'metadata', 'name')}",
                        "its Rego is not the one harbourmaster writes",
                    )
                )
    if not constraints:
        return [*drifts, Drift("gatekeeper", "file", f"no {CONSTRAINT_KIND} constraint found")]
    wanted = {ns.namespace for ns in rules.namespaces}
    for item in constraints:
        drifts += _fingerprint("gatekeeper", item, rules)
        action = _get(item, "spec", "enforcementAction") or "deny"
        want_action = "deny" if rules.mode is AdmissionMode.ENFORCE else "warn"
        if action != want_action:
            drifts.append(
                Drift(
                    "gatekeeper",
                    "enforcementAction",
                    f"is {action}; the environment's admission mode asks for {want_action}",
                )
            )
        matched = _get(item, "spec", "match", "namespaces")
        if not matched or "*" in matched:
            drifts.append(Drift("gatekeeper", "match.namespaces", "the constraint matches every namespace"))
        else:
            drifts += [
                Drift("gatekeeper", f"namespace {ns}", "is not matched by the constraint")
                for ns in sorted(wanted - set(matched))
            ]
            drifts += [
                Drift(
                    "gatekeeper",
                    f"namespace {ns}",
                    f"is matched by the constraint but is not a namespace of environment {rules.environment}",
                )
                for ns in sorted(set(matched) - wanted)
            ]
        found: dict[str, set[str]] = {}
        for entry in _list(_get(item, "spec", "parameters", "namespaces")):
            found.setdefault(str(_get(entry, "name")), set()).update(
                str(p) for p in _list(_get(entry, "prefixes"))
            )
        for namespace in sorted(set(found) - wanted):
            drifts.append(
                Drift(
                    "gatekeeper",
                    f"namespace {namespace}",
                    f"has registry prefixes but is not a namespace of environment {rules.environment}",
                )
            )
        for sources in rules.namespaces:
            drifts += _compare_prefixes(
                "gatekeeper", sources.namespace, sources.prefixes, found.get(sources.namespace, set())
            )
    return drifts
