"""Kinds are identified by API group and kind; selectors for content.ignore_kinds."""

from __future__ import annotations

import pytest

from harbourmaster.domain import kinds
from harbourmaster.domain.kinds import (
    KindSelector,
    is_no_image_kind,
    split_api_version,
    workload_pod_spec_path,
)


def test_public_names_are_pinned() -> None:
    assert set(kinds.__all__) == {
        "NO_IMAGE_KINDS",
        "WORKLOAD_POD_SPECS",
        "KindSelector",
        "is_no_image_kind",
        "split_api_version",
        "workload_pod_spec_path",
    }
    assert not set(kinds.NO_IMAGE_KINDS) & set(kinds.WORKLOAD_POD_SPECS)


@pytest.mark.parametrize(
    ("api_version", "expected"),
    [
        ("v1", ("", "v1")),
        ("apps/v1", ("apps", "v1")),
        ("batch.volcano.sh/v1alpha1", ("batch.volcano.sh", "v1alpha1")),
    ],
)
def test_split_api_version(api_version: str, expected: tuple[str, str]) -> None:
    assert split_api_version(api_version) == expected


def test_group_and_kind_together_identify_a_workload() -> None:
    assert workload_pod_spec_path("batch/v1", "Job") == ("spec", "template", "spec")
    assert workload_pod_spec_path("batch/v1beta1", "CronJob") == (
        "spec",
        "jobTemplate",
        "spec",
        "template",
        "spec",
    )
    assert workload_pod_spec_path("v1", "Pod") == ("spec",)
    for api_version, kind in [
        ("batch.volcano.sh/v1alpha1", "Job"),
        ("v1", "Job"),
        ("", "Pod"),
        ("apps/", "Deployment"),
        ("apps/v1", "Pod"),
        ("example.com/v1", "Deployment"),
    ]:
        assert workload_pod_spec_path(api_version, kind) is None, (api_version, kind)
    assert is_no_image_kind("v1", "Service") and is_no_image_kind(
        "apiextensions.k8s.io/v1", "CustomResourceDefinition"
    )
    assert not is_no_image_kind("serving.knative.dev/v1", "Service")
    assert not is_no_image_kind("", "Service")


def test_selectors_match_exact_versions_or_any_version_of_a_group() -> None:
    exact = KindSelector("example.com/v1", "Widget")
    anyv = KindSelector("example.com/*", "Widget")
    assert exact.matches("example.com/v1", "Widget") and not exact.matches("example.com/v2", "Widget")
    assert anyv.matches("example.com/v2beta1", "Widget") and anyv.matches("example.com/v1", "Widget")
    assert not anyv.matches("sub.example.com/v1", "Widget") and not anyv.matches("example.com/v1", "widget")
    core = KindSelector("v1", "Widget")
    assert core.matches("v1", "Widget") and not core.matches("example.com/v1", "Widget")


@pytest.mark.parametrize(
    ("selector", "problems"),
    [
        (KindSelector("example.com/v1", "Widget"), []),
        (KindSelector("example.com/*", "Widget"), []),
        (KindSelector("v1", "Widget"), []),
        (KindSelector("*", "Widget"), [("apiVersion", "'*' needs a group (example.com/*)")]),
        (KindSelector("", "Widget"), [("apiVersion", "'' is not an apiVersion")]),
        (KindSelector("Example.com/v1", "Widget"), [("apiVersion", "'Example.com/v1' is not an apiVersion")]),
        (KindSelector("example.com/", "Widget"), [("apiVersion", "'example.com/' is not an apiVersion")]),
        (KindSelector("example.com/v1/x", "Widget"), [("apiVersion", "is not an apiVersion")]),
        (KindSelector("example.com/v*", "Widget"), [("apiVersion", "is not an apiVersion")]),
        (KindSelector("example.com/v1", ""), [("kind", "'' is not a kind name")]),
        (KindSelector("example.com/v1", "Wid*"), [("kind", "'Wid*' is not a kind name")]),
        (
            KindSelector("*", "a b"),
            [("apiVersion", "needs a group"), ("kind", "'a b' is not a kind name")],
        ),
    ],
)
def test_selector_problems(selector: KindSelector, problems: list[tuple[str, str]]) -> None:
    found = selector.problems()
    assert [f for f, _ in found] == [f for f, _ in problems]
    for (_, message), (_, words) in zip(found, problems, strict=True):
        assert words in message
