"""Pinning deployment content to checked digests (domain/pinning.py)."""

from __future__ import annotations

import pytest

from harbourmaster.domain.pinning import field_path_parts, pin_documents, pinned_reference, verdict_id
from harbourmaster.errors import BadInput

DIGEST = "sha256:" + "ab" * 32


def test_the_pinned_reference_drops_the_tag_and_names_the_registry() -> None:
    assert pinned_reference("nginx:1.27", DIGEST) == f"docker.io/library/nginx@{DIGEST}"
    assert pinned_reference("127.0.0.1:5000/team/app:v1", DIGEST) == f"127.0.0.1:5000/team/app@{DIGEST}"
    assert pinned_reference(f"harbor.corp/a/b:1@{DIGEST}", DIGEST) == f"harbor.corp/a/b@{DIGEST}"
    with pytest.raises(BadInput, match="names digest"):
        pinned_reference(f"harbor.corp/a/b@sha256:{'cd' * 32}", DIGEST)


def test_field_paths_split_into_keys_and_indexes() -> None:
    assert field_path_parts("spec.template.spec.initContainers[1].image") == [
        "spec", "template", "spec", "initContainers", 1, "image"
    ]  # fmt: skip


def test_pin_documents_writes_copies_and_refuses_a_path_that_is_not_an_image() -> None:
    original = [{"kind": "Pod", "spec": {"containers": [{"name": "a", "image": "x:1"}, {"image": "y:2"}]}}]
    pinned = pin_documents(original, [(0, "spec.containers[1].image", f"y@{DIGEST}")])
    assert pinned[0]["spec"]["containers"][1]["image"] == f"y@{DIGEST}"
    assert original[0]["spec"]["containers"][1]["image"] == "y:2"  # the input is left alone
    for path in ("spec.containers[5].image", "spec.containers[0].name.x", "spec.containers"):
        with pytest.raises(BadInput, match="is not an image field"):
            pin_documents(original, [(0, path, "z")])


def test_the_verdict_id_changes_with_the_revision_and_the_images_only() -> None:
    images = [{"image": "a", "digest": DIGEST}]
    assert verdict_id(3, images) == verdict_id(3, [dict(images[0])])
    assert verdict_id(3, images) != verdict_id(4, images)
    assert verdict_id(3, images) != verdict_id(3, [{"image": "a", "digest": "sha256:" + "00" * 32}])
    assert verdict_id(3, images).startswith("v-") and len(verdict_id(3, images)) == 22
