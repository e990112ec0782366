from __future__ import annotations

from typing import Any

import pytest

from harbourmaster.domain import workloads
from harbourmaster.domain.workloads import (
    ComposeImages,
    WorkloadError,
    WorkloadImage,
    images_from_compose,
    images_from_kubernetes,
)
from harbourmaster.errors import BadInput


def test_public_names_are_pinned() -> None:
    assert set(workloads.__all__) == {
        "CONTAINER_FIELDS",
        "POD_SPEC_PATHS",
        "ComposeImages",
        "WorkloadError",
        "WorkloadImage",
        "images_from_compose",
        "images_from_kubernetes",
    }
    assert issubclass(WorkloadError, BadInput)


def pod_spec(prefix: str) -> dict[str, Any]:
    return {
        "initContainers": [{"name": "init", "image": f"{prefix}-init"}],
        "containers": [
            {"name": "app", "image": f"{prefix}-app"},
            {"name": "side", "image": f"{prefix}-side"},
        ],
        "ephemeralContainers": [{"name": "debug", "image": f"{prefix}-debug"}],
    }


def template(prefix: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"a": "b"}}, "spec": pod_spec(prefix)}


def obj(kind: str, name: str, body: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": "v1", "kind": kind, "metadata": metadata, **body}


ALL_KINDS: list[tuple[dict[str, Any], str]] = [
    (obj("Pod", "p", {"spec": pod_spec("pod")}), "spec"),
    (obj("PodTemplate", "pt", {"template": template("pt")}), "template.spec"),
    (obj("Deployment", "d", {"spec": {"template": template("d")}}), "spec.template.spec"),
    (obj("StatefulSet", "s", {"spec": {"template": template("s")}}), "spec.template.spec"),
    (obj("DaemonSet", "ds", {"spec": {"template": template("ds")}}), "spec.template.spec"),
    (obj("ReplicaSet", "rs", {"spec": {"template": template("rs")}}), "spec.template.spec"),
    (obj("ReplicationController", "rc", {"spec": {"template": template("rc")}}), "spec.template.spec"),
    (obj("Job", "j", {"spec": {"template": template("j")}}), "spec.template.spec"),
    (
        obj(
            "CronJob",
            "cj",
            {"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template("cj")}}}},
        ),
        "spec.jobTemplate.spec.template.spec",
    ),
]


@pytest.mark.parametrize(("document", "spec_path"), ALL_KINDS, ids=[d["kind"] for d, _ in ALL_KINDS])
def test_every_workload_kind(document: dict[str, Any], spec_path: str) -> None:
    images = images_from_kubernetes([document])
    kind, name = document["kind"], document["metadata"]["name"]
    prefix = images[0].image.rsplit("-", 1)[0]
    assert images == [
        WorkloadImage(f"{prefix}-init", kind, name, None, "init", f"{spec_path}.initContainers[0].image", 0),
        WorkloadImage(f"{prefix}-app", kind, name, None, "app", f"{spec_path}.containers[0].image", 0),
        WorkloadImage(f"{prefix}-side", kind, name, None, "side", f"{spec_path}.containers[1].image", 0),
        WorkloadImage(
            f"{prefix}-debug", kind, name, None, "debug", f"{spec_path}.ephemeralContainers[0].image", 0
        ),
    ]


def test_multi_document_stream_counts_documents_and_skips_empty_ones() -> None:
    docs: list[object] = [
        obj("Service", "svc", {"spec": {"ports": [{"port": 80}]}}),
        None,
        obj(
            "Deployment",
            "web",
            {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "a"}]}}}},
            namespace="prod",
        ),
        obj("ConfigMap", "cm", {"data": {"containers": "image: not-a-container"}}),
        obj("Pod", "p", {"spec": {"containers": [{"name": "c", "image": "b"}]}}),
    ]
    images = images_from_kubernetes(docs)
    assert [(i.image, i.document, i.namespace) for i in images] == [("a", 2, "prod"), ("b", 4, None)]
    assert images[0].source == "Deployment/web in namespace prod container app (document 3)"
    assert images[1].source == "Pod/p container c (document 5)"


def test_lists_nest_recursively() -> None:
    inner = obj(
        "DeploymentList",
        "",
        {
            "items": [
                obj(
                    "Deployment",
                    "d1",
                    {"spec": {"template": {"spec": {"containers": [{"name": "x", "image": "d1"}]}}}},
                ),
            ]
        },
    )
    outer = obj(
        "List",
        "",
        {
            "items": [
                obj("Pod", "p1", {"spec": {"containers": [{"name": "x", "image": "p1"}]}}),
                inner,
                obj("ConfigMap", "c", {}),
            ]
        },
    )
    images = images_from_kubernetes([outer])
    assert [(i.image, i.kind, i.name, i.field_path) for i in images] == [
        ("p1", "Pod", "p1", "items[0].spec.containers[0].image"),
        ("d1", "Deployment", "d1", "items[1].items[0].spec.template.spec.containers[0].image"),
    ]
    assert images_from_kubernetes([obj("PodList", "", {"items": []})]) == []
    assert images_from_kubernetes([obj("PodList", "", {"items": None})]) == []


def test_unknown_workload_kinds_are_searched_leniently() -> None:
    rollout = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "r"},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "rollout:1"}]}}},
    }
    odd = {
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"containers": ["not", "containers"], "x": {"initContainers": [{"name": "i"}]}},
    }
    images = images_from_kubernetes([rollout, odd])
    assert [(i.image, i.field_path) for i in images] == [
        ("rollout:1", "spec.template.spec.containers[0].image")
    ]


def test_generate_name_and_unnamed_containers() -> None:
    doc = {"kind": "Pod", "metadata": {"generateName": "job-"}, "spec": {"containers": [{"image": "x"}]}}
    (image,) = images_from_kubernetes([doc])
    assert (image.name, image.container) == ("job-", "#0")


def test_missing_pod_spec_yields_nothing() -> None:
    assert images_from_kubernetes([obj("Deployment", "d", {})]) == []
    assert images_from_kubernetes([obj("CronJob", "c", {"spec": {"jobTemplate": None}})]) == []
    assert images_from_kubernetes([obj("Pod", "p", {"spec": {"containers": None}})]) == []


@pytest.mark.parametrize(
    ("documents", "words"),
    [
        (
            [obj("Pod", "p", {"spec": {"containers": [{"name": "app"}]}})],
            "document 1 (Pod/p): spec.containers[0] (container app) has no image",
        ),
        (
            [
                None,
                obj(
                    "Deployment",
                    "web",
                    {"spec": {"template": {"spec": {"initContainers": [{"name": "i", "image": 5}]}}}},
                ),
            ],
            "document 2 (Deployment/web): spec.template.spec.initContainers[0].image (container i) "
            "must be a string, not int",
        ),
        (
            [obj("Pod", "p", {"spec": {"containers": {"name": "app", "image": "x"}}})],
            "document 1 (Pod/p): spec.containers must be a list of containers",
        ),
        (
            [obj("Pod", "p", {"spec": {"containers": ["nginx"]}})],
            "document 1 (Pod/p): spec.containers[0] must be a container",
        ),
        ([obj("Pod", "p", {"spec": ["x"]})], "document 1 (Pod/p): spec must be a mapping"),
        ([obj("Deployment", "d", {"spec": {"template": "x"}})], "spec.template must be a mapping"),
        (
            [
                obj(
                    "List",
                    "",
                    {"items": [obj("Pod", "deep", {"spec": {"containers": [{"name": "c", "image": None}]}})]},
                )
            ],
            "document 1 (Pod/deep): items[0].spec.containers[0] (container c) has no image",
        ),
        ([obj("List", "l", {"items": {"a": 1}})], "document 1 (List/l): items must be a list"),
        (
            [obj("List", "", {"items": [None]})],
            "document 1 at items[0]: a Kubernetes object must be a mapping",
        ),
        ([["a", "list"]], "document 1: a Kubernetes object must be a mapping, not list"),
        (["text"], "document 1: a Kubernetes object must be a mapping, not str"),
        ([{"apiVersion": "v1", "metadata": {"name": "x"}}], "document 1: the object has no kind"),
        ([{"kind": 5}], "document 1: the object has no kind"),
    ],
)
def test_errors_name_document_object_and_field(documents: list[object], words: str) -> None:
    with pytest.raises(WorkloadError) as caught:
        images_from_kubernetes(documents)
    assert words in str(caught.value)


def test_deeply_nested_lists_are_refused_not_crashed() -> None:
    doc: dict[str, Any] = obj("Pod", "p", {"spec": {"containers": [{"name": "c", "image": "x"}]}})
    for _ in range(200):
        doc = {"kind": "List", "items": [doc]}
    with pytest.raises(WorkloadError, match="nested too deeply"):
        images_from_kubernetes([doc])
    widget: dict[str, Any] = {"containers": [{"image": "x"}]}
    for _ in range(200):
        widget = {"x": widget}
    with pytest.raises(WorkloadError, match="nested too deeply"):
        images_from_kubernetes([{"kind": "Widget", "spec": widget}])


# --- compose -------------------------------------------------------------------


def test_compose_images_and_build_only_services() -> None:
    result = images_from_compose(
        {
            "services": {
                "web": {"image": "harbor.corp/team/web:1", "ports": ["80:80"]},
                "worker": {"build": "./worker"},
                "api": {
                    "build": {"context": "."},
                    "image": "harbor.corp/team/api:dev",
                    "container_name": "api-1",
                },
                "db": {"image": "postgres:16"},
            },
            "volumes": {"data": None},
        }
    )
    assert isinstance(result, ComposeImages)
    assert result.build_only == ["worker"]
    assert [(i.image, i.name, i.container, i.field_path, i.kind, i.document) for i in result.images] == [
        ("harbor.corp/team/web:1", "web", "web", "services.web.image", "service", 0),
        ("harbor.corp/team/api:dev", "api", "api-1", "services.api.image", "service", 0),
        ("postgres:16", "db", "db", "services.db.image", "service", 0),
    ]
    assert result.images[0].source == "service/web container web (document 1)"


@pytest.mark.parametrize(
    ("document", "words"),
    [
        (
            {"services": {"web": {"ports": ["80"]}}},
            "compose service 'web': it has neither 'image' nor 'build'",
        ),
        ({"services": {"web": {"image": None, "build": None}}}, "neither 'image' nor 'build'"),
        ({"services": {"web": {"image": ["x"]}}}, "services.web.image must be a string, not list"),
        ({"services": {"web": "nginx"}}, "compose service 'web': services.web must be a mapping"),
        ({"services": ["web"]}, "'services' must be a mapping"),
        ({"version": "3"}, "'services' must be a mapping"),
    ],
)
def test_compose_errors_name_the_service(document: dict[str, Any], words: str) -> None:
    with pytest.raises(WorkloadError) as caught:
        images_from_compose(document)
    assert words in str(caught.value)


def test_empty_compose_services() -> None:
    assert images_from_compose({"services": {}}) == ComposeImages([], [])
