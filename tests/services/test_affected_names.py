"""``vulns affected`` lists an affected digest once, under every repository and tag it was seen under."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.sboms import store_sbom
from harbourmaster.services.supply_results import AffectedImagePublic
from harbourmaster.services.vulns import affected_since, import_vulndb, parse_since
from harbourmaster.supply.sbom import SbomFormat
from tests.services.test_sboms import sample
from tests.services.test_vulns import ADMIN, ADVISORIES, AUDITOR
from tests.supply.advisories._osv import write_dir

OTHER = "sha256:" + "ef" * 32


def test_a_digest_seen_under_two_repositories_is_listed_once_with_both(
    hm: Harbourmaster, tmp_path: Path
) -> None:
    stored = store_sbom(hm, sample(), fmt=SbomFormat.CYCLONEDX_JSON, actor="test")
    store_sbom(hm, sample(), fmt=SbomFormat.SPDX_JSON, actor="test")  # a second SBOM of the same digest
    local = sample()
    local = dataclasses.replace(local, image=dataclasses.replace(local.image, name="L:v1", digest=OTHER))
    store_sbom(hm, local, fmt=SbomFormat.CYCLONEDX_JSON, actor="test")  # a local source's, in no registry
    now = dt.datetime.now(dt.UTC)
    with hm.store.transaction() as tx:
        for repository, tag in [("harbor.corp/payments/api", "1"), ("harbor.corp/mirror/api", "2024-06"),
                                ("harbor.corp/mirror/api", None), ("harbor.corp/payments/api", "stable")]:
            tx.sboms.record_name(image_digest=stored.image_digest, repository=repository, tag=tag,
                                 seen_at=now)
    import_vulndb(hm, ADMIN, path=write_dir(tmp_path / "osv", ADVISORIES))

    listed = {a.image_digest: a for a in affected_since(hm, AUDITOR, since=parse_since("1h"))}
    assert set(listed) == {stored.image_digest, OTHER}
    image = listed[stored.image_digest]
    assert isinstance(image, AffectedImagePublic)  # the service answers with the public model
    assert [(r.repository, r.tags) for r in image.repositories] == [
        ("harbor.corp/mirror/api", ["2024-06"]), ("harbor.corp/payments/api", ["1", "stable"])]
    assert image.names == ("harbor.corp/mirror/api:2024-06", "harbor.corp/payments/api:1",
                           "harbor.corp/payments/api:stable")
    # One entry per digest: each (advisory, package) once, though two SBOMs of it matched.
    assert sorted(a["id"] for a in image.advisories) == ["DSA-5532-1", "GHSA-9wx4-h78v-vm56"]
    public = image.model_dump()
    assert public["repositories"] == [{"repository": "harbor.corp/mirror/api", "tags": ["2024-06"]},
                                      {"repository": "harbor.corp/payments/api", "tags": ["1", "stable"]}]
    assert public["image_name"] == "harbor.corp/payments/api:1"
    # Never seen in a registry: the stored SBOM's own name is all there is.
    assert listed[OTHER].repositories == [] and listed[OTHER].names == ("L:v1",)


from tests.api.conftest import Api, api  # noqa: E402,F401 - the API fixture, reused here


def test_the_api_lists_every_repository_and_tag(api: Api) -> None:  # noqa: F811
    stored = store_sbom(api.hm, sample(), fmt=SbomFormat.CYCLONEDX_JSON, actor="test")
    with api.hm.store.transaction() as tx:
        for repository in ("harbor.corp/payments/api", "harbor.corp/web/api"):
            tx.sboms.record_name(image_digest=stored.image_digest, repository=repository, tag="1",
                                 seen_at=dt.datetime.now(dt.UTC))
    imported = api.client.post("/api/v1/vulndb/records", json={"records": ADVISORIES},
                               headers=api.headers("admin"))
    assert imported.status_code == 200, imported.text
    listed = api.client.get("/api/v1/vulns/affected", params={"since": "1h"}, headers=api.headers("auditor"))
    assert listed.status_code == 200, listed.text
    assert [(i["image_digest"], i["repositories"]) for i in listed.json()] == [
        (stored.image_digest, [{"repository": "harbor.corp/payments/api", "tags": ["1"]},
                               {"repository": "harbor.corp/web/api", "tags": ["1"]}])]
