"""Deployment content fails closed: content.ignore_kinds in the model, and check_content's denials."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harbourmaster.cli._common import local_principal
from harbourmaster.domain.kinds import KindSelector
from harbourmaster.enforce import ContentError
from harbourmaster.errors import BadInput
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.decisions import check_content
from harbourmaster.services.document import DocumentInvalid
from harbourmaster.services.export import export_yaml
from tests.services.test_apply import apply

IGNORE = [{"apiVersion": "example.com/*", "kind": "Widget"}, {"apiVersion": "v1", "kind": "Gadget"}]


def with_ignore_kinds(example_text: str, entries: object) -> str:
    doc = yaml.safe_load(example_text)
    doc["content"] = {"ignore_kinds": entries}
    return yaml.safe_dump(doc)


def test_ignore_kinds_apply_persist_diff_and_export_back_as_a_no_op(
    hm: Harbourmaster, example_text: str
) -> None:
    apply(hm, example_text)
    text = with_ignore_kinds(example_text, IGNORE)
    dry = apply(hm, text, dry_run=True)
    assert set(dry.changes) == {
        "+ content.ignore_kinds example.com/* Widget",
        "+ content.ignore_kinds v1 Gadget",
    }
    assert hm.state().content_ignore_kinds == ()
    applied = apply(hm, text)
    assert applied.applied
    # Read back from the store by a fresh core, and reach the decision snapshot.
    fresh = Harbourmaster.from_environ(None)
    expected = (KindSelector("example.com/*", "Widget"), KindSelector("v1", "Gadget"))
    assert fresh.state().content_ignore_kinds == expected
    assert fresh.snapshot().content_ignore_kinds == expected
    assert apply(hm, text).changes == []
    exported = export_yaml(hm.state())
    assert yaml.safe_load(exported)["content"] == {
        "ignore_kinds": [
            {"apiVersion": "example.com/*", "kind": "Widget"},
            {"apiVersion": "v1", "kind": "Gadget"},
        ]
    }
    assert apply(hm, exported).changes == []
    assert apply(hm, exported, prune=True).changes == []
    # The document's content section is the whole list: leaving it out removes the entries.
    removed = apply(hm, example_text)
    assert set(removed.changes) == {
        "- content.ignore_kinds example.com/* Widget",
        "- content.ignore_kinds v1 Gadget",
    }
    assert "content" not in yaml.safe_load(export_yaml(hm.state()))


@pytest.mark.parametrize(
    ("entries", "words"),
    [
        ([{"apiVersion": "*", "kind": "Widget"}], ["content.ignore_kinds[0].apiVersion: '*' needs a group"]),
        (
            [
                {"apiVersion": "example.com/v1", "kind": "Widget"},
                {"apiVersion": "Bad/Group/v1", "kind": "w x"},
            ],
            [
                "content.ignore_kinds[1].apiVersion: 'Bad/Group/v1' is not an apiVersion",
                "content.ignore_kinds[1].kind: 'w x' is not a kind name",
            ],
        ),
        ([{"apiVersion": "example.com/v1"}], ["content.ignore_kinds[0].kind: required field is missing"]),
        (
            [{"apiVersion": "example.com/v1", "kind": "W", "version": "v2"}],
            ["content.ignore_kinds[0]: unknown field 'version'"],
        ),
        (
            [{"apiVersion": 3, "kind": "W"}],
            ["content.ignore_kinds[0].apiVersion: Input should be a valid string"],
        ),
        ("Widget", ["content.ignore_kinds: Input should be a valid list"]),
        (["Widget"], ["content.ignore_kinds[0]: Input should be a valid dictionary"]),
        (
            [
                {"apiVersion": "example.com/*", "kind": "Widget"},
                {"apiVersion": "example.com/*", "kind": "Widget"},
            ],
            ["content.ignore_kinds[1]: example.com/* Widget is listed more than once"],
        ),
    ],
)
def test_ignore_kinds_are_validated_with_their_paths(
    hm: Harbourmaster, example_text: str, entries: object, words: list[str]
) -> None:
    apply(hm, example_text)
    with pytest.raises(DocumentInvalid) as caught:
        apply(hm, with_ignore_kinds(example_text, entries))
    details = "\n".join(caught.value.details)
    for word in words:
        assert word in details
    assert hm.state().content_ignore_kinds == ()


WIDGET = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: payments}
spec:
  template:
    spec:
      containers: [{name: api, image: "harbor.corp/payments/api:1"}]
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, namespace: payments}
spec:
  template: {spec: {containers: [{name: c, imageRef: "evil.io/x:1"}]}}
"""


def check(hm: Harbourmaster, text: str, **kw: object) -> list[dict[str, object]]:
    # The extraction is under test: the source decides (the verdict's other parts are tested apart).
    results, _ = check_content(
        hm,
        local_principal(hm),
        environment="prod-eu",
        text=text,
        source="t.yaml",
        resolve=False,
        source_only=True,
        **kw,  # type: ignore[arg-type]
    )
    return [r.public().model_dump() for r in results]


def test_objects_not_understood_are_denied_unless_their_kind_is_ignored(
    hm: Harbourmaster, example_text: str
) -> None:
    apply(hm, example_text)
    rows = check(hm, WIDGET)
    assert [(r["image"], r["allowed"], r["extraction"]) for r in rows] == [
        ("harbor.corp/payments/api:1", True, "known"),
        (None, False, "not-understood"),
    ]
    denied = rows[1]
    assert denied["field_path"] == "spec.template.spec.containers"
    assert denied["source"] == "example.com/v1 Widget/w in namespace payments (document 2)"
    assert "does not understand this object, so it is denied" in str(denied["reasons"])
    # The audit entry records the denial, its place, and no image.
    with hm.store.read() as tx:
        last = [r for r in tx.audit.entries() if r.action == "decision"][-1]
    details = last.details if isinstance(last.details, dict) else json.loads(last.details)
    assert last.result == "denied"
    assert details["images"][1]["image"] is None
    assert details["images"][1]["extraction"] == "not-understood"
    assert details["images"][1]["field_path"] == "spec.template.spec.containers"

    apply(hm, with_ignore_kinds(example_text, [{"apiVersion": "example.com/*", "kind": "Widget"}]))
    rows = check(hm, WIDGET)
    assert [(r["image"], r["allowed"]) for r in rows] == [("harbor.corp/payments/api:1", True)]


def test_fallback_images_are_decided_and_say_so(hm: Harbourmaster, example_text: str) -> None:
    apply(hm, example_text)
    volcano = """\
apiVersion: batch.volcano.sh/v1alpha1
kind: Job
metadata: {name: train, namespace: payments}
spec:
  tasks:
    - name: w
      template:
        spec:
          containers:
            - {name: w, image: "harbor.corp/payments/train:1"}
            - {name: m, image: "evil.io/miner:1"}
"""
    rows = check(hm, volcano)
    assert [(r["image"], r["allowed"], r["extraction"]) for r in rows] == [
        ("harbor.corp/payments/train:1", True, "fallback"),
        ("evil.io/miner:1", False, "fallback"),
    ]


def test_placeholders_are_denied_not_guessed(hm: Harbourmaster, example_text: str) -> None:
    apply(hm, example_text)
    compose = "services:\n  web: {image: '${REGISTRY:-harbor.corp}/payments/web:1'}\n  ok: {image: nginx}\n"
    results, _ = check_content(
        hm, local_principal(hm), environment="dev-docker", text=compose, source="c.yaml", user="payments-dev"
    )
    rows = [r.public().model_dump() for r in results]
    assert [(r["image"], r["allowed"]) for r in rows] == [
        ("${REGISTRY:-harbor.corp}/payments/web:1", False),
        ("nginx", True),
    ]
    assert (
        "contains ${REGISTRY:-harbor.corp}, which is filled in only when deploying" in rows[0]["reasons"][0]
    )  # type: ignore[index]
    tekton = (
        "apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: t, namespace: payments}\n"
        "spec: {steps: [{name: s, image: $(params.builder)}]}\n"
    )
    (row,) = check(hm, tekton)
    assert row["allowed"] is False and "$(params.builder)" in str(row["reasons"])


def test_compose_include_needs_a_file(hm: Harbourmaster, example_text: str, tmp_path: Path) -> None:
    apply(hm, example_text)
    main = tmp_path / "compose.yaml"
    main.write_text("include: [common.yaml]\nservices: {}\n")
    (tmp_path / "common.yaml").write_text("services: {web: {image: 'evil.io/web:1'}}\n")
    kw = {"environment": "dev-docker", "text": main.read_text(), "source": str(main), "user": "payments-dev"}
    with pytest.raises(ContentError, match=r"include\[0\]: 'common\.yaml' cannot be followed"):
        check_content(hm, local_principal(hm), **kw)  # type: ignore[arg-type]
    results, _ = check_content(hm, local_principal(hm), origin=main, **kw)  # type: ignore[arg-type]
    (row,) = [r.public().model_dump() for r in results]
    assert (row["image"], row["allowed"]) == ("evil.io/web:1", False)
    assert str(tmp_path / "common.yaml") in str(row["source"])


def test_an_unreadable_fallback_string_is_denied_but_a_malformed_known_image_is_bad_input(
    hm: Harbourmaster, example_text: str
) -> None:
    apply(hm, example_text)
    widget = (
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: payments}\n"
        "spec: {image: 'Not An Image', other: {image: 'harbor.corp/payments/api:1'}}\n"
    )
    rows = check(hm, widget)
    assert [(r["image"], r["allowed"]) for r in rows] == [
        ("Not An Image", False),
        ("harbor.corp/payments/api:1", True),
    ]
    assert "spec.image 'Not An Image' is not an image reference" in str(rows[0]["reasons"])
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: 'Not An'}]}\n"
    with pytest.raises(BadInput, match="malformed image reference"):
        check(hm, pod)
