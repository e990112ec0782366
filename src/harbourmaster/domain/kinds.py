"""Which Kubernetes kinds harbourmaster understands, identified by API group *and* kind.

A kind name alone means little: ``Job`` is ``batch/v1`` Job to Kubernetes and
``batch.volcano.sh/v1alpha1`` Job to Volcano, with its containers elsewhere.
So a kind is identified by its group (the part of ``apiVersion`` before the
slash; none for the core group) together with its kind.  Any version of a
built-in group counts as that group (``batch/v1beta1`` CronJob,
``apps/v1beta2`` Deployment, ``extensions/v1beta1`` Deployment): the pod spec
sits at the same place in each.

Three kinds of kind:

* :data:`WORKLOAD_POD_SPECS` — built-in workloads, read strictly at their pod spec;
* :data:`NO_IMAGE_KINDS` — built-in kinds that run nothing (Service, ConfigMap,
  CustomResourceDefinition ...): they yield no image and are never "not understood";
* everything else, read by the fallback of :mod:`harbourmaster.domain.image_fallback`.

:class:`KindSelector` names kinds a governance document lists under
``content.ignore_kinds``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "NO_IMAGE_KINDS",
    "WORKLOAD_POD_SPECS",
    "KindSelector",
    "is_no_image_kind",
    "split_api_version",
    "workload_pod_spec_path",
]

_TEMPLATE_SPEC = ("spec", "template", "spec")

#: (group, kind) of each built-in workload -> where its pod spec is.
WORKLOAD_POD_SPECS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "Pod"): ("spec",),
    ("", "PodTemplate"): ("template", "spec"),
    ("", "ReplicationController"): _TEMPLATE_SPEC,
    ("apps", "Deployment"): _TEMPLATE_SPEC,
    ("apps", "StatefulSet"): _TEMPLATE_SPEC,
    ("apps", "DaemonSet"): _TEMPLATE_SPEC,
    ("apps", "ReplicaSet"): _TEMPLATE_SPEC,
    ("extensions", "Deployment"): _TEMPLATE_SPEC,
    ("extensions", "DaemonSet"): _TEMPLATE_SPEC,
    ("extensions", "ReplicaSet"): _TEMPLATE_SPEC,
    ("batch", "Job"): _TEMPLATE_SPEC,
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
}

#: (group, kind) of built-in kinds that name no image to run.
NO_IMAGE_KINDS: frozenset[tuple[str, str]] = frozenset(
    [
        *(
            ("", kind)
            for kind in (
                "Service",
                "ConfigMap",
                "Secret",
                "Namespace",
                "ServiceAccount",
                "PersistentVolume",
                "PersistentVolumeClaim",
                "Endpoints",
                "LimitRange",
                "ResourceQuota",
                "Event",
            )
        ),
        *(
            ("rbac.authorization.k8s.io", kind)
            for kind in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
        ),
        *(("networking.k8s.io", kind) for kind in ("Ingress", "IngressClass", "NetworkPolicy")),
        ("extensions", "Ingress"),
        ("extensions", "NetworkPolicy"),
        ("policy", "PodDisruptionBudget"),
        ("autoscaling", "HorizontalPodAutoscaler"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        *(
            ("admissionregistration.k8s.io", kind)
            for kind in (
                "ValidatingWebhookConfiguration",
                "MutatingWebhookConfiguration",
                "ValidatingAdmissionPolicy",
                "ValidatingAdmissionPolicyBinding",
                "MutatingAdmissionPolicy",
                "MutatingAdmissionPolicyBinding",
            )
        ),
        *(
            ("storage.k8s.io", kind)
            for kind in ("StorageClass", "CSIDriver", "CSINode", "VolumeAttachment", "VolumeAttributesClass")
        ),
        ("scheduling.k8s.io", "PriorityClass"),
        ("coordination.k8s.io", "Lease"),
        ("discovery.k8s.io", "EndpointSlice"),
        ("node.k8s.io", "RuntimeClass"),
        ("apiregistration.k8s.io", "APIService"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("events.k8s.io", "Event"),
        *(("flowcontrol.apiserver.k8s.io", kind) for kind in ("FlowSchema", "PriorityLevelConfiguration")),
    ]
)

# RFC 1123 subdomain for groups, RFC 1035 label for versions (as Kubernetes requires of CRDs).
_GROUP = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_VERSION = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,62}$")


def split_api_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` -> ``("apps", "v1")``; ``v1`` -> ``("", "v1")`` (the core group)."""
    group, slash, version = api_version.rpartition("/")
    return (group, version) if slash else ("", api_version)


def workload_pod_spec_path(api_version: str, kind: str) -> tuple[str, ...] | None:
    """Where a built-in workload keeps its pod spec, or None when ``apiVersion``/``kind`` is not one."""
    group, version = split_api_version(api_version)
    if not version:
        return None
    return WORKLOAD_POD_SPECS.get((group, kind))


def is_no_image_kind(api_version: str, kind: str) -> bool:
    """Whether ``apiVersion``/``kind`` is a built-in kind that runs no container."""
    group, version = split_api_version(api_version)
    return bool(version) and (group, kind) in NO_IMAGE_KINDS


@dataclass(frozen=True, slots=True)
class KindSelector:
    """A kind named in ``content.ignore_kinds``: ``apiVersion`` exactly, or ``group/*`` for any version."""

    api_version: str
    kind: str

    def matches(self, api_version: str, kind: str) -> bool:
        if kind != self.kind:
            return False
        group, version = split_api_version(self.api_version)
        if version == "*":
            return split_api_version(api_version)[0] == group
        return api_version == self.api_version

    def describe(self) -> str:
        return f"{self.api_version} {self.kind}"

    def problems(self) -> list[tuple[str, str]]:
        """What is wrong with this selector, as (field, message) pairs; empty when it is valid."""
        out: list[tuple[str, str]] = []
        group, version = split_api_version(self.api_version)
        if version == "*" and not group:
            out.append(
                ("apiVersion", "'*' needs a group (example.com/*); it would otherwise ignore every kind")
            )
        elif (group and not _GROUP.match(group)) or (version != "*" and not _VERSION.match(version)):
            out.append(
                (
                    "apiVersion",
                    f"{self.api_version!r} is not an apiVersion (group/version, version for the core "
                    "group, or group/* for any version of a group)",
                )
            )
        if not _KIND.match(self.kind):
            out.append(("kind", f"{self.kind!r} is not a kind name (letters and digits, e.g. Widget)"))
        return out
