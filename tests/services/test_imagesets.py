"""Reading an ImageSet file (services/imagesets.py): the safe-YAML guards and errors by path."""

from __future__ import annotations

import pytest

from harbourmaster.domain.imageset import ImageSetInvalid
from harbourmaster.services.imagesets import MAX_IMAGE_SET_BYTES, read_image_set

HEAD = "apiVersion: harbourmaster.io/v1\nkind: ImageSet\n"


def test_a_valid_file_is_read() -> None:
    image_set = read_image_set(HEAD + "signer: ci\nimages:\n  - reg.example/a:v1\n", source="set.yaml")
    assert image_set.signer == "ci" and image_set.entries[0].reference == "reg.example/a:v1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HEAD + "images: [a:v1]\nimages: [b:v1]\n", "given twice"),
        (HEAD + "images: [a:v1\n", "invalid YAML at line"),
        ("", "empty"),
        (
            HEAD + "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
            "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
            "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
            "aliases",
        ),
        ("x" * (MAX_IMAGE_SET_BYTES + 1), "larger than"),
    ],
)
def test_unsafe_or_broken_yaml_is_refused_naming_the_file(text: str, expected: str) -> None:
    with pytest.raises(ImageSetInvalid) as caught:
        read_image_set(text, source="set.yaml")
    assert caught.value.message.startswith("set.yaml: ") and expected in caught.value.message


def test_bad_entries_are_reported_together_by_path() -> None:
    with pytest.raises(ImageSetInvalid) as caught:
        read_image_set(HEAD + "images:\n  - {name: a}\n  - 'UPPER:v1'\n", source="set.yaml")
    paths = [d.split(":")[0] for d in caught.value.details]
    assert "images[0]" in paths and "images[1]" in paths
