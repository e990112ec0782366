from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

import harbourmaster.enforce as enforce
from harbourmaster.enforce import (
    MAX_CONTENT_BYTES,
    ContentError,
    DeploymentContent,
    load_deployment_content,
    load_deployment_file,
)
from harbourmaster.errors import BadInput

MANIFEST = """\
apiVersion: v1
kind: Namespace
metadata: {name: prod}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: prod
spec:
  template:
    spec:
      initContainers:
        - name: migrate
          image: harbor.corp/payments/migrate:1.2
      containers:
        - name: app
          image: harbor.corp/payments/web:1.2
        - name: proxy
          image: envoyproxy/envoy:v1.29.0
---
# an empty document, as Helm renders them
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - {name: report, image: "harbor.corp/payments/report@sha256:%s"}
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Pod
    metadata: {name: debug-me}
    spec:
      containers: [{name: main, image: busybox}]
      ephemeralContainers: [{name: debugger, image: nicolaka/netshoot}]
  - apiVersion: v1
    kind: PodList
    items:
      - kind: Pod
        metadata: {name: nested}
        spec: {containers: [{name: c, image: "alpine:3.19"}]}
""" % ("a" * 64)


def test_public_names_are_pinned() -> None:
    assert set(enforce.__all__) == {
        "MAX_CONTENT_BYTES",
        "MAX_EXPANDED_NODES",
        "ContentError",
        "DeploymentContent",
        "load_deployment_content",
        "load_deployment_file",
    }
    assert issubclass(ContentError, BadInput)


def test_kubernetes_manifest_stream() -> None:
    content = load_deployment_content(MANIFEST, source="app.yaml")
    assert content.kind == "kubernetes"
    assert content.build_only == []
    assert [(i.image, i.document, i.kind, i.name, i.container, i.field_path) for i in content.images] == [
        (
            "harbor.corp/payments/migrate:1.2",
            1,
            "Deployment",
            "web",
            "migrate",
            "spec.template.spec.initContainers[0].image",
        ),
        (
            "harbor.corp/payments/web:1.2",
            1,
            "Deployment",
            "web",
            "app",
            "spec.template.spec.containers[0].image",
        ),
        (
            "envoyproxy/envoy:v1.29.0",
            1,
            "Deployment",
            "web",
            "proxy",
            "spec.template.spec.containers[1].image",
        ),
        (
            "harbor.corp/payments/report@sha256:" + "a" * 64,
            3,
            "CronJob",
            "nightly",
            "report",
            "spec.jobTemplate.spec.template.spec.containers[0].image",
        ),
        ("busybox", 4, "Pod", "debug-me", "main", "items[0].spec.containers[0].image"),
        ("nicolaka/netshoot", 4, "Pod", "debug-me", "debugger", "items[0].spec.ephemeralContainers[0].image"),
        ("alpine:3.19", 4, "Pod", "nested", "c", "items[1].items[0].spec.containers[0].image"),
    ]
    assert content.images[1].source == "Deployment/web in namespace prod container app (document 2)"


def test_agrees_with_plain_safe_load_on_the_same_manifest() -> None:
    # Differential: PyYAML's own safe_load_all, walked naively, finds the same images.
    naive = []
    for doc in yaml.safe_load_all(MANIFEST):
        stack = [doc]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                if isinstance(node.get("image"), str):
                    naive.append(node["image"])
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    ours = [i.image for i in load_deployment_content(MANIFEST, source="m").images]
    assert sorted(ours) == sorted(naive)


COMPOSE = """\
x-common: &common
  restart: always
  environment: {LOG: info}
services:
  web:
    <<: *common
    image: harbor.corp/team/web:2.0
  worker:
    <<: *common
    build: ./worker
  db:
    image: postgres:16
    container_name: main-db
volumes:
  data: {}
"""


def test_compose_file_with_anchors_and_build_only_services() -> None:
    content = load_deployment_content(COMPOSE, source="compose.yaml")
    assert content == DeploymentContent(kind="compose", images=content.images, build_only=["worker"])
    assert [(i.image, i.name, i.container, i.field_path) for i in content.images] == [
        ("harbor.corp/team/web:2.0", "web", "web", "services.web.image"),
        ("postgres:16", "db", "main-db", "services.db.image"),
    ]


def test_empty_content_is_kubernetes_with_no_images() -> None:
    for text in ("", "---\n", "# nothing\n---\n---\n"):
        assert load_deployment_content(text, source="e.yaml") == DeploymentContent(kind="kubernetes")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("kind: Pod\nspec: {containers: [{name: a, image: x}\n", "m.yaml: invalid YAML at line 3, column 1"),
        ("a: b\n  c: d\n", "m.yaml: invalid YAML at line 2, column 4"),
        ("kind: Pod\n\tspec: x\n", "m.yaml: invalid YAML at line 2, column 1"),
        ("kind: Pod\nmetadata: {name: a}\nkind: Deployment\n", "duplicate key 'kind' at line 3, column 1"),
        (
            "kind: Pod\nspec:\n  containers:\n  - name: a\n    image: good\n    image: evil\n",
            "duplicate key 'image' at line 6, column 5",
        ),
        ("&a [*a]\n", "recursive YAML alias at line 1"),
        ("a: &a {b: [*a]}\n", "recursive YAML alias at line 1"),
        ("? [a, b]\n: c\n? [a, b]\n: d\n", "m.yaml: invalid YAML"),
        ("a: *nope\n", "found undefined alias"),
        (
            "kind: Pod\nspec: {containers: [{name: a}]}\n",
            "m.yaml: document 1 (Pod/<unnamed>): spec.containers[0] (container a) has no image",
        ),
        ("kind: Pod\nspec: {containers: [{name: a, image: 0x10}]}\n", "must be a string, not int"),
        ("kind: Pod\nspec: {containers: [{name: a, image: [x]}]}\n", "must be a string, not list"),
        ("- a\n- b\n", "m.yaml: document 1: a Kubernetes object must be a mapping, not list"),
        ("just text\n", "not str"),
        ("metadata: {name: x}\n", "the object has no kind"),
        (
            "services:\n  web: {ports: [80]}\n",
            "m.yaml: compose service 'web': it has neither 'image' nor 'build'",
        ),
        ("services: {web: {image: a}}\n---\nkind: Pod\n", "document 1: the object has no kind"),
        ("x: \x07\n", "m.yaml: invalid YAML"),
        ("[" * 5000 + "]" * 5000, "m.yaml: invalid YAML"),
        ("!!python/object:os.system {}\n", "m.yaml: invalid YAML"),
    ],
)
def test_errors_name_source_position_and_field(text: str, words: str) -> None:
    with pytest.raises(ContentError) as caught:
        load_deployment_content(text, source="m.yaml")
    assert words in str(caught.value)


def test_billion_laughs_is_refused_quickly() -> None:
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 10):
        prev, cur = chr(ord("a") + level - 1), chr(ord("a") + level)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    lines.append("kind: List\nitems: *j")
    start = time.perf_counter()
    with pytest.raises(ContentError, match="expands to more than 2000000 YAML nodes"):
        load_deployment_content("\n".join(lines) + "\n", source="lol.yaml")
    assert time.perf_counter() - start < 2.0


def test_modest_alias_use_is_fine() -> None:
    text = (
        "x-img: &img {name: c, image: shared:1}\nkind: Pod\nmetadata: {name: p}\n"
        "spec: {containers: [*img], initContainers: [*img]}\n"
    )
    content = load_deployment_content(text, source="a.yaml")
    assert [i.image for i in content.images] == ["shared:1", "shared:1"]


def test_oversized_content_is_refused_before_parsing() -> None:
    text = "#" * (MAX_CONTENT_BYTES + 1)
    with pytest.raises(
        ContentError, match=f"big.yaml: deployment content is larger than {MAX_CONTENT_BYTES}"
    ):
        load_deployment_content(text, source="big.yaml")
    # Multi-byte characters count as bytes.
    with pytest.raises(ContentError, match="larger than"):
        load_deployment_content("é" * (MAX_CONTENT_BYTES // 2 + 1), source="big.yaml")


# --- files -----------------------------------------------------------------------


def test_load_file(tmp_path: Path) -> None:
    path = tmp_path / "app.yaml"
    path.write_text(MANIFEST, encoding="utf-8")
    assert load_deployment_file(path) == load_deployment_content(MANIFEST, source=str(path))
    bom = tmp_path / "bom.yaml"
    bom.write_bytes(b"\xef\xbb\xbf" + COMPOSE.encode())
    assert load_deployment_file(bom).kind == "compose"


def test_file_errors_name_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ContentError, match=f"{missing}: cannot read the file: No such file"):
        load_deployment_file(missing)
    with pytest.raises(ContentError, match=f"{tmp_path}: cannot read the file"):
        load_deployment_file(tmp_path)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"kind: Pod\nmetadata: {name: caf\xe9}\n")
    with pytest.raises(ContentError, match=f"{latin}: the file is not UTF-8 text \\(byte 30\\)"):
        load_deployment_file(latin)
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:
        handle.truncate(MAX_CONTENT_BYTES + 10)
    with pytest.raises(ContentError, match=f"{big}: the file is larger than"):
        load_deployment_file(big)
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Pod\nspec: [\n")
    with pytest.raises(ContentError, match=f"{bad}: invalid YAML at line 3"):
        load_deployment_file(bad)
