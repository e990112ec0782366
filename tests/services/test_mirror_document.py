"""The governance document's ``mirrors`` section: every problem by its path, ``file:`` read by the CLI
only, the diff, and export → apply as a no-op."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harbourmaster.cli._common import local_principal
from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role, Tier
from harbourmaster.errors import Forbidden
from harbourmaster.services.apply import apply_document
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.document import DocumentInvalid
from harbourmaster.services.export import export_yaml
from tests.fakes.core import unit_core

IMAGE_SET = """\
apiVersion: harbourmaster.io/v1
kind: ImageSet
signer: ci-release
images:
  - connected.example/lab/app:v1
  - {name: connected.example/lab/lib, semver: '>=2.1 <3'}
"""

BASE: dict[str, object] = {
    "apiVersion": "harbourmaster.io/v1",
    "kind": "Governance",
    "registries": [
        {"name": "internal", "provider": "custom", "url": "https://internal.example"},
        {"name": "connected", "provider": "custom", "url": "https://connected.example"},
    ],
}


def text(*mirrors: dict[str, object]) -> str:
    return yaml.safe_dump({**BASE, "mirrors": list(mirrors)}, sort_keys=False)


def mirror(name: str = "nightly-base", **fields: object) -> dict[str, object]:
    return {"name": name, "image_set": IMAGE_SET, "to": "internal", "schedule": "0 2 * * *", **fields}


@pytest.fixture
def hm() -> Harbourmaster:
    return unit_core()


ADMIN = Principal("local:test", Role.ADMINISTRATOR)


def problems(hm: Harbourmaster, document: str) -> list[str]:
    with pytest.raises(DocumentInvalid) as caught:
        apply_document(hm, ADMIN, document, source="test.yaml")
    assert hm.state().mirrors == ()  # nothing was written
    return caught.value.details


def test_every_problem_is_reported_by_its_path(hm: Harbourmaster) -> None:
    bad_set = IMAGE_SET.replace(">=2.1 <3", "abc")
    details = problems(hm, text(
        mirror("nightly-base", schedule="61 2 * * *"),
        mirror("weekly", to="intrenal", schedule="0 3 * * 0"),
        mirror("broken-set", image_set=bad_set),
        mirror("weekly", schedule="0 4 * * *"),
        mirror("six-fields", schedule="0 0 2 * * *"),
        mirror("never", schedule="0 0 30 2 *"),
        mirror("Bad Name"),
    ))  # fmt: skip
    joined = "\n".join(details)
    assert any(d.startswith("mirrors[0].schedule: '61 2 * * *' is not a valid cron expression")
               for d in details), joined  # fmt: skip
    assert "mirrors[1].to: registry intrenal is not defined (did you mean internal?)" in details, joined
    assert any(d.startswith("mirrors[2].image_set: images[1].semver:") for d in details), joined
    assert "mirrors[3].name: mirror weekly is defined more than once" in details, joined
    assert any(d.startswith("mirrors[4].schedule: '0 0 2 * * *' is not a cron expression of five fields")
               for d in details), joined  # fmt: skip
    assert any(d.startswith("mirrors[5].schedule:") for d in details), joined
    assert any(d.startswith("mirrors[6].name: 'Bad Name' is not a valid mirror name")
               for d in details), joined  # fmt: skip


def test_schema_problems_are_reported_with_the_others(hm: Harbourmaster) -> None:
    details = problems(hm, text(
        {"name": "a", "image_set": IMAGE_SET, "to": "internal"},
        mirror("b", tier="prod"),
        mirror("c", schedule="bad"),
        mirror("d", every="day"),
    ))  # fmt: skip
    joined = "\n".join(details)
    assert "mirrors[0].schedule: required field is missing" in details, joined
    assert any(d.startswith("mirrors[1].tier:") for d in details), joined
    assert any(d.startswith("mirrors[2].schedule:") for d in details), joined
    assert any(d.startswith("mirrors[3]: unknown field") for d in details), joined


def test_a_file_reference_is_read_by_the_cli_and_refused_through_the_api(tmp_path: Path) -> None:
    hm = Harbourmaster.from_environ({"HARBOURMASTER_HOME": str(tmp_path / "home"),
                                     "HARBOURMASTER_AUDIT_CHECKPOINT_SYSLOG": ""})  # fmt: skip
    hm.init()
    try:
        path = tmp_path / "base-images.yaml"
        path.write_text(IMAGE_SET)
        document = text(mirror(image_set=f"file:{path}"))
        details = problems(hm, document)  # no host: the API
        assert details == ["mirrors[0].image_set: give the ImageSet's YAML text itself; files are read only "
                           "by the harbourmaster CLI on its own host"]
        missing = text(mirror(image_set=f"file:{tmp_path / 'missing.yaml'}"))
        with pytest.raises(DocumentInvalid) as caught:
            apply_document(hm, local_principal(hm), missing, source="t.yaml", host=hm.host_files())
        assert caught.value.details[0].startswith("mirrors[0].image_set: file ")
        result = apply_document(hm, local_principal(hm), document, source="t.yaml", host=hm.host_files())
        assert "+ mirror nightly-base" in result.changes
        [stored] = hm.state().mirrors
        assert stored.image_set == IMAGE_SET  # the text is kept: the file is not needed again
        path.unlink()
        again = apply_document(hm, local_principal(hm), export_yaml(hm.state()), source="export.yaml")
        assert again.changes == [] and not again.applied
    finally:
        hm.db.dispose()


def test_export_writes_the_section_back_and_applies_as_a_no_op(hm: Harbourmaster) -> None:
    apply_document(hm, ADMIN, text(mirror(tier="production"), mirror("hourly", schedule="5 * * * *")),
                   source="test.yaml")  # fmt: skip
    exported = yaml.safe_load(export_yaml(hm.state()))
    assert exported["mirrors"] == [
        {"name": "hourly", "image_set": IMAGE_SET, "to": "internal", "schedule": "5 * * * *"},
        {"name": "nightly-base", "image_set": IMAGE_SET, "to": "internal", "tier": "production",
         "schedule": "0 2 * * *"},
    ]  # fmt: skip
    again = apply_document(hm, ADMIN, export_yaml(hm.state()), source="export.yaml")
    assert again.changes == [] and not again.applied
    [hourly, nightly] = sorted(hm.state().mirrors, key=lambda m: m.name)
    assert nightly.tier is Tier.PRODUCTION and hourly.tier is None


def test_changes_are_listed_without_the_image_set_text(hm: Harbourmaster) -> None:
    apply_document(hm, ADMIN, text(mirror()), source="test.yaml")
    changed = IMAGE_SET.replace("app:v1", "app:v2")
    result = apply_document(hm, ADMIN, text(mirror(image_set=changed, schedule="0 3 * * *")),
                            source="test.yaml", dry_run=True)  # fmt: skip
    assert result.changes == [
        "~ mirror nightly-base: image_set changed",
        "~ mirror nightly-base: schedule: '0 2 * * *' -> '0 3 * * *'",
    ]


def test_removing_the_target_registry_names_the_mirror(hm: Harbourmaster) -> None:
    apply_document(hm, ADMIN, text(mirror()), source="test.yaml")
    document = yaml.safe_dump({**BASE, "registries": [BASE["registries"][1]],  # type: ignore[index]
                               "mirrors": [mirror()]})  # fmt: skip
    with pytest.raises(DocumentInvalid) as caught:
        apply_document(hm, ADMIN, document, source="test.yaml", prune=True)
    assert caught.value.details == ["mirrors[0].to: registry internal is not defined"]


def test_only_governance_writers_may_schedule_mirrors(hm: Harbourmaster) -> None:
    with pytest.raises(Forbidden):
        apply_document(hm, Principal("alice", Role.TEAM_MEMBER), text(mirror()), source="test.yaml")
