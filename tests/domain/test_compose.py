"""Compose files: services, build-only services, include and extends, through a fake file reader."""

from __future__ import annotations

import posixpath
from typing import Any

import pytest

from harbourmaster.domain import compose as compose_module
from harbourmaster.domain.compose import MAX_COMPOSE_DEPTH, ComposeImages, images_from_compose
from harbourmaster.domain.workload_images import WorkloadError
from harbourmaster.errors import BadInput


def test_public_names_are_pinned() -> None:
    assert set(compose_module.__all__) == {
        "MAX_COMPOSE_DEPTH",
        "ComposeImages",
        "ComposeReader",
        "images_from_compose",
    }


class Files:
    """An in-memory tree of compose files; paths resolve like POSIX paths relative to the including file."""

    def __init__(self, files: dict[str, Any]) -> None:
        self.files = files
        self.reads: list[tuple[str, str | None, str]] = []

    def __call__(self, path: str, *, relative_to: str | None, field: str) -> tuple[str, object]:
        self.reads.append((path, relative_to, field))
        base = posixpath.dirname(relative_to or "/app/compose.yaml")
        name = posixpath.normpath(posixpath.join(base, path))
        if name not in self.files:
            raise BadInput(f"{field}: cannot read {path}: No such file")
        return name, self.files[name]


def check(document: dict[str, Any], files: dict[str, Any]) -> ComposeImages:
    return images_from_compose(document, read=Files(files), file="/app/compose.yaml")


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
        ({"services": None, "x-a": 1}, "'services' must be a mapping"),
    ],
)
def test_compose_errors_name_the_service(document: dict[str, Any], words: str) -> None:
    with pytest.raises(WorkloadError) as caught:
        images_from_compose(document)
    assert words in str(caught.value)


def test_empty_compose_services() -> None:
    assert images_from_compose({"services": {}}) == ComposeImages([], [])


def test_include_short_and_long_forms_relative_to_the_including_file() -> None:
    files = {
        "/app/db/compose.yaml": {
            "include": ["../cache/compose.yaml"],
            "services": {"db": {"image": "postgres:16"}},
        },
        "/app/cache/compose.yaml": {"services": {"cache": {"image": "evil.io/redis:7"}}},
        "/shared/base.yaml": {"services": {"mq": {"image": "rabbitmq:3"}, "tool": {"build": "."}}},
        "/shared/override.yaml": {"services": {"mq": {"image": "evil.io/rabbitmq:3"}}},
    }
    main = {
        "include": ["db/compose.yaml", {"path": ["../shared/base.yaml", "../shared/override.yaml"]}],
        "services": {"web": {"image": "harbor.corp/team/web:1"}},
    }
    result = check(main, files)
    assert [(i.image, i.name, i.file, i.field_path) for i in result.images] == [
        ("harbor.corp/team/web:1", "web", None, "services.web.image"),
        ("postgres:16", "db", "/app/db/compose.yaml", "services.db.image"),
        ("evil.io/redis:7", "cache", "/app/cache/compose.yaml", "services.cache.image"),
        ("evil.io/rabbitmq:3", "mq", "/shared/override.yaml", "services.mq.image"),
    ]
    assert result.build_only == ["tool"]
    assert result.images[2].source == "service/cache container cache (document 1 of /app/cache/compose.yaml)"


def test_an_include_only_file_and_a_file_included_twice() -> None:
    files = {
        "/app/a.yaml": {"include": ["common.yaml"], "services": {}},
        "/app/common.yaml": {"services": {"c": {"image": "c:1"}}},
    }
    result = check({"include": ["a.yaml", {"path": "common.yaml"}]}, files)
    assert [i.image for i in result.images] == ["c:1"]


def test_include_cycles_are_refused() -> None:
    files = {
        "/app/a.yaml": {"include": ["b.yaml"], "services": {}},
        "/app/b.yaml": {"include": ["./compose.yaml"], "services": {}},
    }
    main = {"include": ["a.yaml"], "services": {}}
    files["/app/compose.yaml"] = main
    with pytest.raises(WorkloadError) as caught:
        check(main, files)
    assert "compose file /app/b.yaml: include[0]: include cycle: " in caught.value.message
    assert "/app/compose.yaml -> /app/a.yaml -> /app/b.yaml -> /app/compose.yaml" in caught.value.message
    with pytest.raises(WorkloadError, match=r"include cycle: /app/a\.yaml -> /app/a\.yaml"):
        check({"include": ["a.yaml"]}, {"/app/a.yaml": {"include": ["a.yaml"]}})


def test_include_depth_is_limited() -> None:
    files = {f"/app/{n}.yaml": {"include": [f"{n + 1}.yaml"]} for n in range(MAX_COMPOSE_DEPTH + 2)}
    for n in range(MAX_COMPOSE_DEPTH + 2):
        files[f"/app/{n}.yaml"]["services"] = {f"s{n}": {"image": f"img{n}"}}
    # Exactly MAX_COMPOSE_DEPTH levels of include are followed...
    ok = dict(files)
    ok[f"/app/{MAX_COMPOSE_DEPTH - 1}.yaml"] = {"services": {"last": {"image": "last"}}}
    assert len(check({"include": ["0.yaml"]}, ok).images) == MAX_COMPOSE_DEPTH
    # ... one more is refused.
    with pytest.raises(WorkloadError, match=f"includes nest more than {MAX_COMPOSE_DEPTH} levels deep"):
        check({"include": ["0.yaml"]}, files)


def test_a_missing_included_file_is_the_readers_error() -> None:
    with pytest.raises(BadInput, match=r"include\[0\]: cannot read gone.yaml: No such file"):
        check({"include": ["gone.yaml"], "services": {}}, {})


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ({"include": ["a.yaml"]}, "compose file: include[0]: 'a.yaml' cannot be followed: content sent"),
        (
            {"include": [{"path": ["a.yaml", "b.yaml"]}]},
            "compose file: include[0].path[0]: 'a.yaml' cannot be followed",
        ),
        (
            {"services": {"web": {"extends": {"file": "common.yaml", "service": "base"}}}},
            "compose file: services.web.extends.file: 'common.yaml' cannot be followed",
        ),
    ],
)
def test_without_a_reader_include_and_extends_file_are_refused(document: dict[str, Any], words: str) -> None:
    with pytest.raises(WorkloadError) as caught:
        images_from_compose(document)
    assert words in caught.value.message


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ({"include": ["${COMMON}/compose.yaml"]}, "include[0] '${COMMON}/compose.yaml' uses variable"),
        ({"include": ["oci://registry/app:1"]}, "include[0] 'oci://registry/app:1' is remote"),
        (
            {"include": [{"path": "git@github.com:x/y.git"}]},
            "include[0].path 'git@github.com:x/y.git' is remote",
        ),
        ({"include": [""]}, "include[0] is empty"),
        ({"include": "a.yaml"}, "compose file: include must be a list"),
        ({"include": [{"path": 5}]}, "include[0].path must be a path or a list of paths"),
        ({"include": [{"project_directory": "x"}]}, "include[0].path must be a path or a list of paths"),
        ({"include": [7]}, "include[0] must be a path or a mapping with path"),
        ({"include": ["notcompose.yaml"]}, "/app/notcompose.yaml is not a compose file (it has neither"),
        ({"include": ["list.yaml"]}, "include[0]: /app/list.yaml is not a compose file (a mapping)"),
    ],
)
def test_include_errors_name_the_field(document: dict[str, Any], words: str) -> None:
    files = {"/app/notcompose.yaml": {"version": "3"}, "/app/list.yaml": ["a"]}
    with pytest.raises(WorkloadError) as caught:
        check(document, files)
    assert words in caught.value.message


def test_extends_in_the_same_file_and_from_another_file() -> None:
    files = {
        "/app/common/services.yaml": {
            "services": {
                "base": {"image": "evil.io/base:1"},
                "chained": {"extends": {"file": "../more.yaml", "service": "deep"}},
                "local": {"extends": "base"},
            }
        },
        "/app/more.yaml": {"services": {"deep": {"image": "evil.io/deep:1", "build": "."}}},
    }
    main = {
        "services": {
            "template": {"image": "harbor.corp/team/template:1"},
            "same": {"extends": "template", "container_name": "same-1"},
            "same-long": {"extends": {"service": "template"}},
            "other": {"extends": {"file": "common/services.yaml", "service": "base"}},
            "chained": {"extends": {"file": "common/services.yaml", "service": "chained"}},
            "via-local": {"extends": {"file": "common/services.yaml", "service": "local"}},
            "own": {"extends": {"file": "common/services.yaml", "service": "base"}, "image": "mine:1"},
            "build": {"extends": "template", "build": "."},
        }
    }
    reader = Files(files)
    result = images_from_compose(main, read=reader, file="/app/compose.yaml")
    assert [(i.name, i.container, i.image, i.file, i.field_path) for i in result.images] == [
        ("template", "template", "harbor.corp/team/template:1", None, "services.template.image"),
        ("same", "same-1", "harbor.corp/team/template:1", None, "services.template.image"),
        ("same-long", "same-long", "harbor.corp/team/template:1", None, "services.template.image"),
        ("other", "other", "evil.io/base:1", "/app/common/services.yaml", "services.base.image"),
        ("chained", "chained", "evil.io/deep:1", "/app/more.yaml", "services.deep.image"),
        ("via-local", "via-local", "evil.io/base:1", "/app/common/services.yaml", "services.base.image"),
        ("own", "own", "mine:1", None, "services.own.image"),
        ("build", "build", "harbor.corp/team/template:1", None, "services.template.image"),
    ]
    # extends.file is relative to the file that names it.
    assert ("../more.yaml", "/app/common/services.yaml", "services.chained.extends.file") in reader.reads


def test_extends_without_an_image_is_build_only_or_an_error() -> None:
    result = images_from_compose({"services": {"b": {"build": "."}, "c": {"extends": "b"}}})
    assert result == ComposeImages([], ["b", "c"])
    with pytest.raises(WorkloadError, match="compose service 'c': it has neither 'image' nor 'build'"):
        images_from_compose({"services": {"c": {"extends": "b"}, "b": {"ports": [1]}}})


@pytest.mark.parametrize(
    ("services", "words"),
    [
        ({"a": {"extends": "a"}}, "compose service 'a': services.a.extends: service 'a' extends itself"),
        ({"a": {"extends": "b"}, "b": {"extends": "a"}}, "extends itself (an extends cycle)"),
        ({"a": {"extends": "ghost"}}, "services.a.extends: service 'ghost' is not defined"),
        (
            {"a": {"extends": {"file": "common.yaml", "service": "ghost"}}},
            "services.a.extends: service 'ghost' is not defined in /app/common.yaml",
        ),
        ({"a": {"extends": {"file": "common.yaml"}}}, "services.a.extends.service must name a service"),
        ({"a": {"extends": {"file": 3, "service": "x"}}}, "services.a.extends.file must be a path"),
        ({"a": {"extends": ["x"]}}, "services.a.extends must be a service name or a mapping with service"),
        (
            {"a": {"extends": {"file": "${DIR}/c.yaml", "service": "x"}}},
            "services.a.extends.file '${DIR}/c.yaml' uses variable interpolation",
        ),
        (
            {"a": {"extends": {"file": "common.yaml", "service": "bad"}}},
            "compose service 'a' in /app/common.yaml: services.bad.image must be a string, not list",
        ),
    ],
)
def test_extends_errors(services: dict[str, Any], words: str) -> None:
    files = {"/app/common.yaml": {"services": {"ok": {"image": "x"}, "bad": {"image": ["x"]}}}}
    with pytest.raises(WorkloadError) as caught:
        check({"services": services}, files)
    assert words in caught.value.message


def test_long_extends_chains_are_refused() -> None:
    services: dict[str, Any] = {f"s{n}": {"extends": f"s{n + 1}"} for n in range(MAX_COMPOSE_DEPTH + 2)}
    services[f"s{MAX_COMPOSE_DEPTH + 2}"] = {"image": "x"}
    with pytest.raises(WorkloadError, match=f"extends chains longer than {MAX_COMPOSE_DEPTH}"):
        images_from_compose({"services": services})
