"""What deployment content names: each image and exactly where, and the objects that could not be read.

The readers of Kubernetes objects (:mod:`harbourmaster.domain.workloads`) and of
compose files (:mod:`harbourmaster.domain.compose`) both report these; the
decision service decides each :class:`WorkloadImage` and denies each
:class:`NotUnderstood`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from harbourmaster.errors import BadInput

__all__ = [
    "Extraction",
    "KubernetesImages",
    "NotUnderstood",
    "WorkloadError",
    "WorkloadImage",
    "unresolved_placeholder",
]

#: How an image was found: at a known kind's pod spec (or a compose service), or by the fallback.
Extraction = Literal["known", "fallback"]

# ${VAR}, $VAR, $(params.x) (Tekton, Kubernetes env), {{inputs.parameters.x}} (Argo, Helm), or a bare $.
_PLACEHOLDER = re.compile(r"\$\{[^}]*\}?|\$\([^)]*\)?|\$[A-Za-z_][A-Za-z0-9_]*|\{\{.*?(\}\}|$)|\$")


class WorkloadError(BadInput):
    """Deployment content names a container image in a way that cannot be checked."""

    kind = "invalid-workload"


def unresolved_placeholder(image: str) -> str | None:
    """The first variable placeholder in ``image`` (``${TAG}``, ``$(params.image)``, ``{{x}}``), if any.

    Such an image is only known once something (compose, a pipeline
    controller, a template engine) fills it in, so it cannot be decided.
    """
    match = _PLACEHOLDER.search(image)
    return match.group(0) if match else None


@dataclass(frozen=True, slots=True)
class WorkloadImage:
    """One image named by deployment content, and exactly where.

    ``document`` is the 0-based index in a multi-document stream;
    ``field_path`` is relative to that document
    (``spec.template.spec.initContainers[0].image``).  ``holder`` is
    ``container`` or ``volume`` (an image volume).  ``file`` is set for images
    found in another file than the one checked (a compose ``include`` or
    ``extends.file``).
    """

    image: str
    kind: str
    name: str
    namespace: str | None
    container: str
    field_path: str
    document: int
    extraction: Extraction = "known"
    api_version: str = ""
    holder: str = "container"
    file: str | None = None

    @property
    def source(self) -> str:
        """For humans: ``Deployment/web container app (document 1)``; documents count from 1 here.

        Images the fallback found also carry their ``apiVersion``, since their
        kind name may be a built-in's.
        """
        kind = f"{self.api_version} {self.kind}" if self.extraction == "fallback" else self.kind
        where = f" in namespace {self.namespace}" if self.namespace else ""
        document = f"document {self.document + 1}" + (f" of {self.file}" if self.file else "")
        return f"{kind.strip()}/{self.name}{where} {self.holder} {self.container} ({document})"


@dataclass(frozen=True, slots=True)
class NotUnderstood:
    """An object that may run containers, but whose images could not be read: it is denied."""

    document: int
    api_version: str
    kind: str
    name: str
    namespace: str | None
    field_path: str
    problem: str

    @property
    def source(self) -> str:
        where = f" in namespace {self.namespace}" if self.namespace else ""
        api = self.api_version or "(no apiVersion)"
        return f"{api} {self.kind}/{self.name or '<unnamed>'}{where} (document {self.document + 1})"

    @property
    def reason(self) -> str:
        return (
            f"{self.source}: {self.field_path} {self.problem}; harbourmaster does not understand "
            f"this object, so it is denied (to accept such objects without their images being "
            f"checked, list {{apiVersion: {self.api_version or '...'}, kind: {self.kind}}} under "
            "content.ignore_kinds in the governance document)"
        )


@dataclass(frozen=True, slots=True)
class KubernetesImages:
    """The images found in Kubernetes objects, and the objects that could not be understood."""

    images: list[WorkloadImage] = field(default_factory=list)
    not_understood: list[NotUnderstood] = field(default_factory=list)
