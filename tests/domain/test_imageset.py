"""The ImageSet document (domain/imageset.py): entries, every problem by its path, tag selection."""

from __future__ import annotations

import pytest

from harbourmaster.domain.imageset import ImageSetInvalid, SemverRange, parse_image_set

DIGEST = "sha256:" + "ab" * 32


def _doc(*images: object, **extra: object) -> dict[str, object]:
    return {"apiVersion": "harbourmaster.io/v1", "kind": "ImageSet", "images": list(images), **extra}


def test_each_entry_form_is_read() -> None:
    image_set = parse_image_set(
        _doc(
            "docker.io/library/debian:12",
            f"ghcr.io/corp/tool@{DIGEST}",
            "alpine",
            {"name": "quay.io/corp/app", "tags": [r"^v1\.4\.[0-9]+$"]},
            {"name": "quay.io/corp/lib", "semver": ">=2.1 <3"},
            {"name": "harbor.corp/charts/web", "tags": ["1.2.0"]},
            signer="ci-release",
        ),
        source="set.yaml",
    )
    debian, tool, alpine, app, lib, chart = image_set.entries
    assert image_set.signer == "ci-release"
    assert (debian.repository, debian.tag, debian.digest) == ("docker.io/library/debian", "12", None)
    assert (tool.repository, tool.tag, tool.digest) == ("ghcr.io/corp/tool", None, DIGEST)
    assert alpine.reference == "docker.io/library/alpine:latest"
    assert app.selects and app.select(["v1.4.0", "v1.4.12", "v1.40.1", "v1.4.1-rc1", "latest"]) == [
        "v1.4.0", "v1.4.12"
    ]  # fmt: skip
    assert lib.select(["2.0.9", "2.1", "2.1.0", "2.10.3", "3.0.0", "v2.5.0", "main"]) == [
        "2.1", "2.1.0", "v2.5.0", "2.10.3"
    ]  # fmt: skip
    # A plain tag matches itself only: its dots are not wildcards.
    assert chart.select(["1.2.0", "1x2y0", "1.2.0.1"]) == ["1.2.0"]
    assert (chart.path, lib.path) == ("images[5]", "images[4]")


def test_every_problem_is_reported_with_its_path() -> None:
    with pytest.raises(ImageSetInvalid) as bad:
        parse_image_set(
            {
                "apiVersion": "v0",
                "kind": "ImageSet",
                "signer": "Not A Key!",
                "extra": 1,
                "images": [
                    "UPPER/Case:tag",
                    {"name": "quay.io/corp/app", "tags": ["(unclosed"]},
                    {"name": "quay.io/corp/lib", "semver": ">=two"},
                    {"name": "quay.io/corp/x:1", "tags": ["1"]},
                    {"name": "quay.io/corp/y"},
                    {"name": "quay.io/corp/z", "tags": ["1"], "semver": ">=1", "colour": "blue"},
                    42,
                ],
            },
            source="set.yaml",
        )
    problems = bad.value.details
    assert bad.value.message.startswith("set.yaml: ")
    for expected in (
        "apiVersion: must be harbourmaster.io/v1",
        "extra: unknown field",
        "signer: must be the name of a signing key",
        "images[0]: ",
        "images[1].tags[0]: not a regular expression",
        "images[2].semver: ",
        "images[3].name: name the repository only",
        "images[4]: give tags or semver",
        "images[5].colour: unknown field",
        "images[5]: give tags or semver",
        "images[6]: must be an image reference or a mapping",
    ):
        assert any(p.startswith(expected) for p in problems), (expected, problems)
    with pytest.raises(ImageSetInvalid, match="must be a mapping"):
        parse_image_set(["not", "a", "mapping"], source="set.yaml")
    with pytest.raises(ImageSetInvalid):
        parse_image_set(_doc(), source="set.yaml")


def test_semver_ranges() -> None:
    assert SemverRange.parse("=1.2.3").contains("1.2.3") and not SemverRange.parse("=1.2.3").contains("1.2.4")
    assert SemverRange.parse(">1 <=2").contains("2.0.0") and not SemverRange.parse(">1 <=2").contains("1.0.0")
    assert not SemverRange.parse(">=1").contains("not-a-version")
    for text in ("", "~1.2", ">= 1", "^2"):
        with pytest.raises(ValueError):
            SemverRange.parse(text)
