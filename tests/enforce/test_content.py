from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import yaml

import harbourmaster.enforce as enforce
from harbourmaster.domain.compose import MAX_COMPOSE_DEPTH
from harbourmaster.domain.kinds import KindSelector
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
            "apiVersion: v1\nkind: Pod\nspec: {containers: [{name: a}]}\n",
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
        "x-img: &img {name: c, image: shared:1}\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
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


# --- failing closed (issue 8) ------------------------------------------------------

UNKNOWN = """\
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: 80}]}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, namespace: team}
spec:
  template:
    spec:
      containers: [{name: c, imageRef: evil.io/x:1}]
---
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: t}
spec:
  steps: [{name: s, image: "alpine:3.20"}]
"""


def test_kubernetes_content_reports_fallback_images_and_objects_not_understood() -> None:
    content = load_deployment_content(UNKNOWN, source="u.yaml")
    assert [(i.image, i.extraction, i.field_path) for i in content.images] == [
        ("alpine:3.20", "fallback", "spec.steps[0].image")
    ]
    (nu,) = content.not_understood
    assert (nu.document, nu.kind, nu.field_path) == (1, "Widget", "spec.template.spec.containers")
    ignored = load_deployment_content(
        UNKNOWN, source="u.yaml", ignore_kinds=[KindSelector("example.com/*", "Widget")]
    )
    assert ignored.not_understood == [] and ignored.images == content.images


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_compose_include_is_resolved_relative_to_each_including_file(tmp_path: Path) -> None:
    main = write(
        tmp_path / "app" / "compose.yaml",
        "include:\n  - db/compose.yaml\n  - path: [../shared/base.yaml, ../shared/override.yaml]\n"
        "services:\n  web: {image: 'harbor.corp/team/web:1'}\n",
    )
    write(
        tmp_path / "app" / "db" / "compose.yaml",
        "include: [../cache.yaml]\nservices: {db: {image: 'postgres:16'}}\n",
    )
    write(tmp_path / "app" / "cache.yaml", "services: {cache: {image: 'evil.io/redis:7'}}\n")
    write(tmp_path / "shared" / "base.yaml", "services: {mq: {image: 'rabbitmq:3'}}\n")
    write(tmp_path / "shared" / "override.yaml", "services: {mq: {image: 'evil.io/mq:3'}}\n")
    content = load_deployment_file(main)
    assert content.kind == "compose"
    assert [(i.image, i.file) for i in content.images] == [
        ("harbor.corp/team/web:1", None),
        ("postgres:16", str(tmp_path / "app" / "db" / "compose.yaml")),
        ("evil.io/redis:7", str(tmp_path / "app" / "cache.yaml")),
        ("evil.io/mq:3", str(tmp_path / "shared" / "override.yaml")),
    ]
    assert f"of {tmp_path / 'app' / 'cache.yaml'}" in content.images[2].source
    # The same through load_deployment_content with the file as origin; an include-only file is compose.
    only = write(tmp_path / "app" / "only.yaml", "include: [cache.yaml]\n")
    assert [i.image for i in load_deployment_content(only.read_text(), source="o", origin=only).images] == [
        "evil.io/redis:7"
    ]


def test_compose_extends_file(tmp_path: Path) -> None:
    main = write(
        tmp_path / "compose.yaml",
        "services:\n  web:\n    extends: {file: common/services.yaml, service: base}\n    ports: ['80:80']\n",
    )
    write(tmp_path / "common" / "services.yaml", "services: {base: {image: 'evil.io/base:1'}}\n")
    (image,) = load_deployment_file(main).images
    assert (image.name, image.image, image.field_path, image.file) == (
        "web",
        "evil.io/base:1",
        "services.base.image",
        str(tmp_path / "common" / "services.yaml"),
    )


def test_without_a_file_include_and_extends_file_are_refused() -> None:
    with pytest.raises(ContentError) as caught:
        load_deployment_content("include: [common.yaml]\nservices: {}\n", source="request")
    assert caught.value.message.startswith(
        "request: compose file: include[0]: 'common.yaml' cannot be followed"
    )
    with pytest.raises(ContentError, match=r"request: compose file: services\.w\.extends\.file: 'c\.yaml'"):
        load_deployment_content("services: {w: {extends: {file: c.yaml, service: b}}}\n", source="request")


def test_include_cycles_and_depth_are_refused(tmp_path: Path) -> None:
    main = write(tmp_path / "compose.yaml", "include: [a.yaml]\nservices: {}\n")
    write(tmp_path / "a.yaml", "include: [sub/b.yaml]\nservices: {}\n")
    write(tmp_path / "sub" / "b.yaml", "include: [../compose.yaml]\nservices: {}\n")
    with pytest.raises(ContentError) as caught:
        load_deployment_file(main)
    assert "include cycle: " in caught.value.message
    assert f"{tmp_path / 'compose.yaml'} -> {tmp_path / 'a.yaml'}" in caught.value.message
    # A symlink to the including file is the same file.
    (tmp_path / "link.yaml").symlink_to(tmp_path / "compose.yaml")
    write(tmp_path / "sub" / "b.yaml", "include: [../link.yaml]\nservices: {}\n")
    with pytest.raises(ContentError, match="include cycle"):
        load_deployment_file(main)
    deep = tmp_path / "deep"
    for n in range(MAX_COMPOSE_DEPTH + 1):
        write(deep / f"{n}.yaml", f"include: [{n + 1}.yaml]\nservices: {{s{n}: {{image: 'i{n}'}}}}\n")
    write(deep / f"{MAX_COMPOSE_DEPTH + 1}.yaml", "services: {}\n")
    with pytest.raises(ContentError, match=f"nest more than {MAX_COMPOSE_DEPTH} levels deep"):
        load_deployment_file(deep / "0.yaml")


def test_included_files_must_exist_be_regular_and_fit_the_limits(tmp_path: Path) -> None:
    main = write(tmp_path / "compose.yaml", "include: [missing.yaml]\nservices: {}\n")
    with pytest.raises(ContentError) as caught:
        load_deployment_file(main)
    assert caught.value.message.startswith(f"{main}: include[0]: cannot read missing.yaml")
    assert "No such file" in caught.value.message
    (tmp_path / "dir.yaml").mkdir()
    write(main, "include: [dir.yaml]\nservices: {}\n")
    with pytest.raises(ContentError, match=r"include\[0\]: dir\.yaml .* is not a regular file"):
        load_deployment_file(main)
    os.mkfifo(tmp_path / "fifo.yaml")
    write(main, "include: [fifo.yaml]\nservices: {}\n")
    with pytest.raises(ContentError, match="is not a regular file"):
        load_deployment_file(main)
    write(main, "include: [two.yaml]\nservices: {}\n")
    write(tmp_path / "two.yaml", "services: {}\n---\nservices: {}\n")
    with pytest.raises(ContentError, match=r"two\.yaml must hold one YAML document, not 2"):
        load_deployment_file(main)
    write(tmp_path / "two.yaml", "services: {a: {image: [x]}}\n")
    with pytest.raises(
        ContentError, match=f"compose service 'a' in {tmp_path / 'two.yaml'}: services.a.image"
    ):
        load_deployment_file(main)
    # The size limit counts the including file and every included file together.
    half = MAX_CONTENT_BYTES // 2 + 10
    write(main, "include: [big.yaml]\nservices: {}\n" + "#" * half + "\n")
    write(tmp_path / "big.yaml", "services: {}\n" + "#" * half + "\n")
    with pytest.raises(ContentError, match=f"larger than {MAX_CONTENT_BYTES} bytes in total"):
        load_deployment_file(main)


def test_alias_expansion_budget_is_shared_across_included_files(tmp_path: Path) -> None:
    lines = ["x-a: &a [" + ", ".join(["lol"] * 10) + "]"]
    for level in range(1, 6):
        prev, cur = chr(ord("a") + level - 1), chr(ord("a") + level)
        lines.append(f"x-{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    bomb = "\n".join(lines) + "\nservices: {}\n"  # about 1.1 million nodes: fine alone, not three times
    for name in ("a.yaml", "b.yaml"):
        write(tmp_path / name, bomb)
    main = write(
        tmp_path / "compose.yaml", bomb.replace("services: {}", "include: [a.yaml, b.yaml]\nservices: {}")
    )
    with pytest.raises(ContentError, match="YAML nodes"):
        load_deployment_file(main)


def test_relative_paths_resolve_from_where_a_file_was_reached(tmp_path: Path) -> None:
    # compose resolves includes next to the path it was given, not next to a symlink's target.
    write(tmp_path / "real" / "compose.yaml", "include: [x.yaml]\nservices: {}\n")
    write(tmp_path / "real" / "x.yaml", "services: {x: {image: 'real:1'}}\n")
    write(tmp_path / "project" / "x.yaml", "services: {x: {image: 'evil.io/project:1'}}\n")
    (tmp_path / "project" / "compose.yaml").symlink_to(tmp_path / "real" / "compose.yaml")
    (image,) = load_deployment_file(tmp_path / "project" / "compose.yaml").images
    assert image.image == "evil.io/project:1"
