from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harbourmaster.domain import workloads
from harbourmaster.domain.kinds import KindSelector
from harbourmaster.domain.workloads import (
    KubernetesImages,
    NotUnderstood,
    WorkloadError,
    WorkloadImage,
    images_from_kubernetes,
    unresolved_placeholder,
)
from harbourmaster.errors import BadInput


def test_public_names_are_pinned() -> None:
    assert set(workloads.__all__) == {
        "CONTAINER_FIELDS",
        "POD_LIKE_KEYS",
        "Extraction",
        "KubernetesImages",
        "NotUnderstood",
        "WorkloadError",
        "WorkloadImage",
        "images_from_kubernetes",
        "unresolved_placeholder",
    }
    assert issubclass(WorkloadError, BadInput)


def images(documents: list[Any], **kw: Any) -> list[WorkloadImage]:
    """The images, asserting that nothing was reported as not understood."""
    found = images_from_kubernetes(documents, **kw)
    assert found.not_understood == []
    return found.images


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


API_VERSIONS = {
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "ReplicaSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
    "DeploymentList": "apps/v1",
}


def obj(
    kind: str,
    name: str,
    body: dict[str, Any],
    namespace: str | None = None,
    api_version: str | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    version = api_version or API_VERSIONS.get(kind, "v1")
    return {"apiVersion": version, "kind": kind, "metadata": metadata, **body}


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
    found = images([document])
    kind, name, api = document["kind"], document["metadata"]["name"], document["apiVersion"]
    prefix = found[0].image.rsplit("-", 1)[0]
    assert found == [
        WorkloadImage(
            f"{prefix}-init",
            kind,
            name,
            None,
            "init",
            f"{spec_path}.initContainers[0].image",
            0,
            "known",
            api,
        ),
        WorkloadImage(
            f"{prefix}-app", kind, name, None, "app", f"{spec_path}.containers[0].image", 0, "known", api
        ),
        WorkloadImage(
            f"{prefix}-side", kind, name, None, "side", f"{spec_path}.containers[1].image", 0, "known", api
        ),
        WorkloadImage(
            f"{prefix}-debug",
            kind,
            name,
            None,
            "debug",
            f"{spec_path}.ephemeralContainers[0].image",
            0,
            "known",
            api,
        ),
    ]


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [
        ("batch/v1beta1", "CronJob"),
        ("apps/v1beta2", "Deployment"),
        ("apps/v1beta1", "StatefulSet"),
        ("extensions/v1beta1", "DaemonSet"),
    ],
)
def test_older_versions_of_built_in_groups_are_the_same_kind(api_version: str, kind: str) -> None:
    body = {"spec": {"template": template("old")}}
    if kind == "CronJob":
        body = {"spec": {"jobTemplate": {"spec": {"template": template("old")}}}}
    found = images([obj(kind, "x", body, api_version=api_version)])
    assert {i.extraction for i in found} == {"known"} and len(found) == 4


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
    found = images(docs)
    assert [(i.image, i.document, i.namespace) for i in found] == [("a", 2, "prod"), ("b", 4, None)]
    assert found[0].source == "Deployment/web in namespace prod container app (document 3)"
    assert found[1].source == "Pod/p container c (document 5)"


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
    found = images([outer])
    assert [(i.image, i.kind, i.name, i.field_path) for i in found] == [
        ("p1", "Pod", "p1", "items[0].spec.containers[0].image"),
        ("d1", "Deployment", "d1", "items[1].items[0].spec.template.spec.containers[0].image"),
    ]
    assert images([obj("PodList", "", {"items": []})]) == []
    assert images([obj("PodList", "", {"items": None})]) == []


def test_unknown_workload_kinds_are_read_by_the_fallback() -> None:
    rollout = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "r"},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "rollout:1"}]}}},
    }
    (image,) = images([rollout])
    assert (image.image, image.field_path, image.extraction, image.container) == (
        "rollout:1",
        "spec.template.spec.containers[0].image",
        "fallback",
        "app",
    )
    assert image.source == "argoproj.io/v1alpha1 Rollout/r container app (document 1)"


def test_generate_name_and_unnamed_containers() -> None:
    doc = obj("Pod", "", {"spec": {"containers": [{"image": "x"}]}})
    doc["metadata"] = {"generateName": "job-"}
    (image,) = images([doc])
    assert (image.name, image.container) == ("job-", "#0")


def test_missing_pod_spec_yields_nothing() -> None:
    assert images([obj("Deployment", "d", {})]) == []
    assert images([obj("CronJob", "c", {"spec": {"jobTemplate": None}})]) == []
    assert images([obj("Pod", "p", {"spec": {"containers": None}})]) == []


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
            [obj("Pod", "p", {"spec": {"containers": [], "volumes": [{"name": "v", "image": "x:1"}]}})],
            "document 1 (Pod/p): spec.volumes[0].image (volume v) must be a mapping with reference, not str",
        ),
        (
            [obj("Pod", "p", {"spec": {"volumes": [{"name": "v", "image": {"pullPolicy": "Always"}}]}})],
            "document 1 (Pod/p): spec.volumes[0].image (volume v) has no reference",
        ),
        (
            [obj("Pod", "p", {"spec": {"volumes": [{"name": "v", "image": {"reference": 7}}]}})],
            "spec.volumes[0].image.reference (volume v) must be a string, not int",
        ),
        ([obj("Pod", "p", {"spec": {"volumes": {"v": 1}}})], "spec.volumes must be a list of volumes"),
        (
            [
                obj(
                    "Widget",
                    "w",
                    {"spec": {"workers": [{"name": "main", "image": {"repository": "x", "tag": "1"}}]}},
                    api_version="example.com/v1",
                )
            ],
            "document 1 (Widget/w): spec.workers[0].image (container main) must be a string, not dict",
        ),
        (
            [
                obj(
                    "Widget",
                    "w",
                    {"spec": {"volumes": [{"name": "v", "image": {"reference": None}}]}},
                    api_version="example.com/v1",
                )
            ],
            "document 1 (Widget/w): spec.volumes[0].image (volume v) has no reference",
        ),
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


# --- failing closed (issue 8) ------------------------------------------------------


def test_image_volumes_are_images_in_every_pod_spec() -> None:
    volumes = [
        {"name": "cfg", "configMap": {"name": "c"}},
        {"name": "models", "image": {"reference": "quay.io/ml/models:v2", "pullPolicy": "IfNotPresent"}},
    ]
    pod = obj("Pod", "p", {"spec": {"containers": [{"name": "c", "image": "app:1"}], "volumes": volumes}})
    deployment = obj("Deployment", "d", {"spec": {"template": {"spec": {"volumes": volumes}}}})
    found = images([pod, deployment])
    assert [(i.image, i.holder, i.container, i.field_path, i.extraction) for i in found] == [
        ("app:1", "container", "c", "spec.containers[0].image", "known"),
        ("quay.io/ml/models:v2", "volume", "models", "spec.volumes[1].image.reference", "known"),
        (
            "quay.io/ml/models:v2",
            "volume",
            "models",
            "spec.template.spec.volumes[1].image.reference",
            "known",
        ),
    ]
    assert found[1].source == "Pod/p volume models (document 1)"
    rollout = obj(
        "Rollout",
        "r",
        {"spec": {"template": {"spec": {"volumes": volumes}}}},
        api_version="argoproj.io/v1alpha1",
    )
    (image,) = images([rollout])
    assert (image.image, image.holder, image.extraction) == ("quay.io/ml/models:v2", "volume", "fallback")


VOLCANO_JOB = {
    "apiVersion": "batch.volcano.sh/v1alpha1",
    "kind": "Job",
    "metadata": {"name": "train", "namespace": "ml"},
    "spec": {
        "minAvailable": 2,
        "tasks": [
            {
                "name": "ps",
                "replicas": 1,
                "template": {"spec": {"containers": [{"name": "ps", "image": "evil.io/ps:1"}]}},
            },
            {
                "name": "worker",
                "template": {
                    "spec": {
                        "initContainers": [{"name": "fetch", "image": "evil.io/fetch:1"}],
                        "containers": [{"name": "w", "image": "evil.io/worker:1"}],
                    }
                },
            },
        ],
    },
}


def test_a_custom_job_is_not_read_as_a_batch_job() -> None:
    found = images([VOLCANO_JOB])
    assert [(i.image, i.field_path, i.extraction) for i in found] == [
        ("evil.io/ps:1", "spec.tasks[0].template.spec.containers[0].image", "fallback"),
        ("evil.io/fetch:1", "spec.tasks[1].template.spec.initContainers[0].image", "fallback"),
        ("evil.io/worker:1", "spec.tasks[1].template.spec.containers[0].image", "fallback"),
    ]
    assert found[0].source == "batch.volcano.sh/v1alpha1 Job/train in namespace ml container ps (document 1)"
    # A built-in kind name in the core group, or without apiVersion, is not the built-in either.
    for api_version in ("v1", ""):
        job = {**VOLCANO_JOB, "apiVersion": api_version}
        assert {i.extraction for i in images([job])} == {"fallback"}


TEKTON = [
    {
        "apiVersion": "tekton.dev/v1",
        "kind": "Task",
        "metadata": {"name": "build"},
        "spec": {
            "params": [{"name": "tag", "type": "string"}],
            "stepTemplate": {"env": [{"name": "HOME", "value": "/workspace"}]},
            "steps": [
                {"name": "compile", "image": "golang:1.22", "script": "go build ./..."},
                {"name": "push", "image": "gcr.io/kaniko-project/executor:v1.23.0", "args": ["--push"]},
            ],
            "sidecars": [{"name": "registry", "image": "registry:2"}],
        },
    },
    {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"generateName": "release-"},
        "spec": {
            "pipelineSpec": {
                "tasks": [
                    {
                        "name": "lint",
                        "taskSpec": {
                            "steps": [{"name": "lint", "image": "evil.io/linter:1", "script": "lint"}]
                        },
                    }
                ]
            }
        },
    },
]


def test_tekton_steps_sidecars_and_embedded_task_specs() -> None:
    found = images(TEKTON)
    assert [(i.image, i.container, i.field_path, i.document) for i in found] == [
        ("golang:1.22", "compile", "spec.steps[0].image", 0),
        ("gcr.io/kaniko-project/executor:v1.23.0", "push", "spec.steps[1].image", 0),
        ("registry:2", "registry", "spec.sidecars[0].image", 0),
        ("evil.io/linter:1", "lint", "spec.pipelineSpec.tasks[0].taskSpec.steps[0].image", 1),
    ]
    assert all(i.extraction == "fallback" for i in found)


ARGO_WORKFLOW = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"generateName": "ci-"},
    "spec": {
        "entrypoint": "main",
        "templates": [
            {
                "name": "main",
                "steps": [[{"name": "a", "template": "build"}], [{"name": "b", "template": "run"}]],
            },
            {"name": "build", "container": {"image": "evil.io/builder:1", "command": ["make"]}},
            {"name": "run", "script": {"image": "python:3.12", "source": "print(1)"}},
            {
                "name": "multi",
                "containerSet": {"containers": [{"name": "one", "image": "alpine:3.20"}]},
            },
        ],
    },
}


def test_argo_workflow_templates() -> None:
    found = images([ARGO_WORKFLOW])
    assert [(i.image, i.container, i.field_path) for i in found] == [
        ("evil.io/builder:1", "container", "spec.templates[1].container.image"),
        ("python:3.12", "script", "spec.templates[2].script.image"),
        ("alpine:3.20", "one", "spec.templates[3].containerSet.containers[0].image"),
    ]


def test_a_list_holding_an_unknown_kind() -> None:
    listed = obj("List", "", {"items": [ARGO_WORKFLOW, obj("ConfigMap", "c", {"data": {"image": "x"}})]})
    found = images([listed])
    assert [(i.image, i.field_path) for i in found] == [
        ("evil.io/builder:1", "items[0].spec.templates[1].container.image"),
        ("python:3.12", "items[0].spec.templates[2].script.image"),
        ("alpine:3.20", "items[0].spec.templates[3].containerSet.containers[0].image"),
    ]
    # Keys of a List besides items are read by the fallback too.
    odd = obj("WidgetList", "", {"items": [], "spec": {"containers": [{"name": "c", "image": "hidden:1"}]}})
    assert [i.image for i in images([odd])] == ["hidden:1"]


POD_LIKE_WITHOUT_IMAGE = {
    "apiVersion": "example.com/v1",
    "kind": "Widget",
    "metadata": {"name": "w", "namespace": "team"},
    "spec": {"template": {"spec": {"containers": [{"name": "c", "imageRef": "evil.io/x:1"}]}}},
}


def test_pod_like_structure_without_any_image_is_not_understood() -> None:
    found = images_from_kubernetes([obj("ConfigMap", "c", {}), POD_LIKE_WITHOUT_IMAGE])
    assert found.images == []
    (nu,) = found.not_understood
    assert nu == NotUnderstood(
        1,
        "example.com/v1",
        "Widget",
        "w",
        "team",
        "spec.template.spec.containers",
        "looks like a pod or container definition, but no image was found anywhere in the object",
    )
    assert nu.source == "example.com/v1 Widget/w in namespace team (document 2)"
    assert nu.reason.startswith(
        "example.com/v1 Widget/w in namespace team (document 2): spec.template.spec.containers looks like"
    )
    assert "content.ignore_kinds" in nu.reason and "{apiVersion: example.com/v1, kind: Widget}" in nu.reason


@pytest.mark.parametrize(
    "selector",
    [KindSelector("example.com/v1", "Widget"), KindSelector("example.com/*", "Widget")],
    ids=["exact", "any-version"],
)
def test_ignored_kinds_are_not_denied_but_their_images_still_count(selector: KindSelector) -> None:
    assert images_from_kubernetes([POD_LIKE_WITHOUT_IMAGE], ignore_kinds=[selector]) == KubernetesImages()
    with_image = {**POD_LIKE_WITHOUT_IMAGE, "spec": {"image": "evil.io/x:1", "helm": {"image": {"tag": 1}}}}
    found = images_from_kubernetes([with_image], ignore_kinds=[selector])
    assert [i.image for i in found.images] == ["evil.io/x:1"] and found.not_understood == []


@pytest.mark.parametrize(
    "selector",
    [
        KindSelector("example.com/v2", "Widget"),
        KindSelector("other.com/*", "Widget"),
        KindSelector("example.com/*", "Gadget"),
        KindSelector("com/*", "Widget"),
    ],
)
def test_ignore_kinds_match_group_version_and_kind(selector: KindSelector) -> None:
    assert len(images_from_kubernetes([POD_LIKE_WITHOUT_IMAGE], ignore_kinds=[selector]).not_understood) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"spec": {"steps": [{"name": "s", "ref": {"name": "git-clone"}}]}},
        {"spec": {"templates": [{"name": "t", "script": "echo hi"}]}},
        {"spec": {"podSpec": {"nodeName": "n1"}}},
        {"spec": {"jobs": [{"taskSpec": {"params": [{"name": "p"}]}}]}},
        {"spec": {"runtime": {"containerSet": {"retries": 1}}}},
    ],
)
def test_pod_like_keys_anywhere(body: dict[str, Any]) -> None:
    document = obj("Runner", "r", body, api_version="ci.example.com/v1beta1")
    assert len(images_from_kubernetes([document]).not_understood) == 1


def test_empty_pod_like_structure_and_plain_objects_are_fine() -> None:
    documents = [
        obj("Widget", "a", {"spec": {"containers": [], "script": "  ", "steps": {}}}, api_version="x.io/v1"),
        obj(
            "Certificate",
            "b",
            {"spec": {"secretName": "s", "dnsNames": ["a"]}},
            api_version="cert-manager.io/v1",
        ),
        obj("Widget", "c", {"spec": {"container": "sidecar-name"}}, api_version="x.io/v1"),
    ]
    assert images_from_kubernetes(documents) == KubernetesImages()


def test_an_image_that_cannot_be_read_is_not_understood() -> None:
    release = obj(
        "HelmRelease",
        "web",
        {
            "spec": {
                "chart": {"spec": {"chart": "web"}},
                "values": {"image": {"repository": "evil/x", "tag": "1"}},
            }
        },
        api_version="helm.toolkit.fluxcd.io/v2",
    )
    found = images_from_kubernetes([release])
    assert found.images == []
    assert [(n.field_path, n.problem) for n in found.not_understood] == [
        ("spec.values.image", "is a mapping, not an image reference")
    ]
    flag = obj("Widget", "w", {"spec": {"image": True, "other": {"image": "ok:1"}}}, api_version="x.io/v1")
    found = images_from_kubernetes([flag])
    assert [i.image for i in found.images] == ["ok:1"]
    assert [(n.field_path, n.problem) for n in found.not_understood] == [
        ("spec.image", "is a boolean, not an image reference")
    ]
    nested = obj("Widget", "w", {"spec": {"image": {"image": "inner:1"}}}, api_version="x.io/v1")
    assert [i.field_path for i in images([nested])] == ["spec.image.image"]


NO_IMAGE_OBJECTS = [
    obj("Service", "s", {"spec": {"image": "weird:1", "containers": [{"name": "c"}]}}),
    obj("ConfigMap", "c", {"data": {"image": "nginx", "script": "run"}}),
    obj("Secret", "s", {"stringData": {"image": "x"}}),
    obj("Namespace", "n", {}),
    obj("ServiceAccount", "sa", {"imagePullSecrets": [{"name": "pull"}]}),
    obj("PersistentVolumeClaim", "pvc", {"spec": {"resources": {}}}),
    obj("ClusterRole", "r", {"rules": [{"resources": ["pods"]}]}, api_version="rbac.authorization.k8s.io/v1"),
    obj("Ingress", "i", {"spec": {"rules": []}}, api_version="networking.k8s.io/v1"),
    obj("NetworkPolicy", "np", {"spec": {}}, api_version="networking.k8s.io/v1"),
    obj("PodDisruptionBudget", "pdb", {"spec": {}}, api_version="policy/v1"),
    obj("HorizontalPodAutoscaler", "h", {"spec": {"scaleTargetRef": {}}}, api_version="autoscaling/v2"),
    obj(
        "CustomResourceDefinition",
        "widgets.example.com",
        {
            "spec": {
                "versions": [
                    {
                        "name": "v1",
                        "schema": {
                            "openAPIV3Schema": {
                                "properties": {
                                    "spec": {
                                        "properties": {
                                            "image": {"type": "string"},
                                            "containers": {"type": "array", "items": {"type": "object"}},
                                        }
                                    }
                                }
                            }
                        },
                    }
                ]
            }
        },
        api_version="apiextensions.k8s.io/v1",
    ),
    obj(
        "ValidatingWebhookConfiguration",
        "v",
        {"webhooks": [{"name": "a", "rules": []}]},
        api_version="admissionregistration.k8s.io/v1",
    ),
    obj("StorageClass", "sc", {"provisioner": "x"}, api_version="storage.k8s.io/v1"),
    obj("PriorityClass", "pc", {"value": 1}, api_version="scheduling.k8s.io/v1"),
    obj("Lease", "l", {"spec": {}}, api_version="coordination.k8s.io/v1"),
]


@pytest.mark.parametrize("document", NO_IMAGE_OBJECTS, ids=[d["kind"] for d in NO_IMAGE_OBJECTS])
def test_known_kinds_without_images_yield_nothing_and_are_never_denied(document: dict[str, Any]) -> None:
    assert images_from_kubernetes([document]) == KubernetesImages()


def test_a_no_image_kind_name_under_another_group_is_read_by_the_fallback() -> None:
    knative = obj(
        "Service",
        "hello",
        {"spec": {"template": {"spec": {"containers": [{"image": "evil.io/hello:1"}]}}}},
        api_version="serving.knative.dev/v1",
    )
    (image,) = images([knative])
    assert (image.image, image.extraction) == ("evil.io/hello:1", "fallback")


@pytest.mark.parametrize(
    ("image", "placeholder"),
    [
        ("${REGISTRY}/app:1", "${REGISTRY}"),
        ("app:${TAG:-latest}", "${TAG:-latest}"),
        ("$REGISTRY/app", "$REGISTRY"),
        ("$(params.builderImage)", "$(params.builderImage)"),
        ("{{inputs.parameters.image}}", "{{inputs.parameters.image}}"),
        ("app:$", "$"),
        ("harbor.corp/team/app:1.2@sha256:" + "a" * 64, None),
    ],
)
def test_unresolved_placeholders(image: str, placeholder: str | None) -> None:
    assert unresolved_placeholder(image) == placeholder


_KEYS = st.sampled_from(["image", "name", "spec", "template", "items", "x", "tasks", "0"])
_LEAVES = st.one_of(st.none(), st.integers(), st.text(max_size=5))
_TREES = st.recursive(
    _LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(_KEYS, children, max_size=4),
    ),
    max_leaves=30,
)


def _naive_images(node: object) -> list[str]:
    out: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "image" and isinstance(value, str):
                out.append(value)
            out.extend(_naive_images(value))
    elif isinstance(node, list):
        for item in node:
            out.extend(_naive_images(item))
    return out


@settings(max_examples=300, deadline=None)
@given(spec=_TREES)
def test_fallback_finds_every_string_image_a_naive_walk_finds(spec: object) -> None:
    # Oracle: a naive recursive walk collecting every string under a key named "image".
    document = {"apiVersion": "x.io/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec}
    try:
        found = images_from_kubernetes([document])
    except WorkloadError as exc:
        # Only a container-like mapping (with a string name) with a non-string image is an error.
        assert "must be a string" in exc.message
        return
    assert sorted(i.image for i in found.images) == sorted(_naive_images(spec))
    assert all(i.extraction == "fallback" for i in found.images)
