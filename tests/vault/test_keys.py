from __future__ import annotations

import base64
import copy
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harbourmaster.vault import Keyring, MasterKey, MasterKeyError, UnknownKeyError


def test_key_id_is_a_short_fingerprint_not_the_key() -> None:
    raw = bytes(range(32))
    key = MasterKey(raw)
    assert len(key.key_id) == 16
    int(key.key_id, 16)
    assert key.key_id not in raw.hex()
    assert MasterKey(raw).key_id == key.key_id
    assert MasterKey(bytes(32)).key_id != key.key_id


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_key_ids_are_deterministic_and_distinct(a: bytes, b: bytes) -> None:
    assert (MasterKey(a).key_id == MasterKey(b).key_id) == (a == b)
    assert (MasterKey(a) == MasterKey(b)) == (a == b)


def test_repr_and_str_show_only_the_key_id() -> None:
    key = MasterKey.generate()
    material = key.export_base64().reveal()
    for text in (repr(key), str(key), f"{key}", repr(Keyring(key))):
        assert key.key_id in text
        assert material not in text
    assert repr(key.export_base64()) == "Secret('**********')"


def test_master_key_cannot_be_pickled_or_changed() -> None:
    key = MasterKey.generate()
    with pytest.raises(TypeError):
        pickle.dumps(key)
    with pytest.raises(AttributeError):
        key.key_id = "0000"  # type: ignore[misc]
    assert copy.deepcopy(key) is key


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_wrong_size_is_refused(size: int) -> None:
    with pytest.raises(MasterKeyError, match="32 bytes"):
        MasterKey(b"k" * size)


def test_base64_round_trip_with_and_without_padding() -> None:
    key = MasterKey.generate()
    text = key.export_base64().reveal()
    assert MasterKey.from_base64(text, source="t") == key
    assert MasterKey.from_base64(text.rstrip("="), source="t") == key
    assert MasterKey.from_base64(f"  {text}\n", source="t") == key


@pytest.mark.parametrize(
    "text",
    [
        "not base64 at all!!",
        base64.b64encode(b"s" * 16).decode(),
        base64.b64encode(b"s" * 48).decode(),
        "ключ",
        "",
        "A",
    ],
)
def test_bad_base64_names_the_source_not_the_value(text: str) -> None:
    with pytest.raises(MasterKeyError) as info:
        MasterKey.from_base64(text, source="HARBOURMASTER_MASTER_KEY")
    message = info.value.diagnostics()
    assert message.startswith("HARBOURMASTER_MASTER_KEY: ")
    if len(text) > 2:
        assert text not in message


def test_keyring_lookup_and_with_primary() -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    ring = Keyring(old)
    assert ring.get(old.key_id) is old
    assert old.key_id in ring and new.key_id not in ring
    with pytest.raises(UnknownKeyError, match=new.key_id):
        ring.get(new.key_id)
    rotated = ring.with_primary(new)
    assert rotated.primary is new
    assert rotated.key_ids == (new.key_id, old.key_id)
    assert rotated.get(old.key_id) is old
    assert len(rotated) == 2
    assert list(rotated) == [new, old]
    # the original keyring is unchanged
    assert ring.key_ids == (old.key_id,)


def test_keyring_ignores_duplicates() -> None:
    key = MasterKey.generate()
    twin = MasterKey(base64.b64decode(key.export_base64().reveal()))
    assert Keyring(key, [key, twin]).key_ids == (key.key_id,)
