"""The session signing key: made once per installation, sealed by the vault, kept in the store (so every
process signs with it), rewrapped with the master key, never guessable."""

from __future__ import annotations

from fastapi.testclient import TestClient

from harbourmaster.api.app import create_app
from harbourmaster.services.web_sessions import session_key
from harbourmaster.vault.interface import SealedSecret
from harbourmaster.web.sessions import COOKIE
from tests.web.conftest import Web


def _stored(web: Web) -> bytes:
    with web.hm.store.read() as tx:
        blob = tx.governance.web_session_key()
    assert blob is not None
    return blob


def test_the_key_is_made_once_sealed_and_shared_by_every_process(web: Web) -> None:
    web.sign_in("admin")
    key = session_key(web.hm).reveal()
    assert len(bytes.fromhex(key)) == 32
    blob = _stored(web)
    assert key.encode() not in blob and bytes.fromhex(key) not in blob
    assert session_key(web.hm).reveal() == key  # the same key, not a new one each time
    # Another app on the same installation (another worker or replica) signs with the same key.
    with TestClient(create_app(web.hm), base_url="http://testserver") as other:
        other.cookies.set(COOKIE, web.client.cookies[COOKIE], path="/ui")
        assert other.get("/ui/").status_code == 200


def test_a_key_that_does_not_open_is_replaced_and_every_session_ends(web: Web) -> None:
    web.sign_in("admin")
    cookie = web.client.cookies[COOKIE]
    old = _stored(web)
    with web.hm.store.transaction() as tx:
        tx.governance.claim_web_session_key(old[:-4] + bytes(4), replacing=old)  # tampered: does not open
    with TestClient(create_app(web.hm), base_url="http://testserver") as other:
        other.cookies.set(COOKIE, cookie, path="/ui")
        assert other.get("/ui/").status_code == 401
    assert _stored(web) not in (old, old[:-4] + bytes(4))


def test_a_master_key_rotation_rewraps_the_key_and_sessions_survive(web: Web) -> None:
    web.sign_in("admin")
    cookie = web.client.cookies[COOKIE]
    key = session_key(web.hm).reveal()
    old = _stored(web)

    seen: list[tuple[str, str, bytes]] = []

    def rewrap(record: str, field: str, blob: bytes) -> bytes:
        seen.append((record, field, blob))
        return web.hm.vault.rewrap(SealedSecret.from_bytes(blob), record=record, field=field).to_bytes()

    with web.hm.store.transaction() as tx:
        count = tx.governance.rewrap(rewrap)
    assert count >= 1
    assert ("web-session", "signing_key", old) in seen, "the key is rewrapped with the others"
    assert session_key(web.hm).reveal() == key
    with TestClient(create_app(web.hm), base_url="http://testserver") as other:
        other.cookies.set(COOKIE, cookie, path="/ui")
        assert other.get("/ui/").status_code == 200
