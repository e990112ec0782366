from __future__ import annotations

import dataclasses
import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from harbourmaster.domain.secret import Secret
from harbourmaster.errors import Error
from harbourmaster.vault import (
    DecryptionError,
    EnvelopeVault,
    Keyring,
    MasterKey,
    SealedSecret,
    SealedSecretFormatError,
    UnknownKeyError,
    Vault,
    VaultError,
)
from tests.vault.conftest import CANARY

REC, FIELD = "registry:7d3c", "password"


def test_envelope_vault_is_a_vault(vault: EnvelopeVault) -> None:
    assert isinstance(vault, Vault)


def test_round_trip(vault: EnvelopeVault) -> None:
    sealed = vault.seal(Secret(CANARY), record=REC, field=FIELD)
    opened = vault.open(sealed, record=REC, field=FIELD)
    assert isinstance(opened, Secret)
    assert opened.reveal() == CANARY


def test_round_trip_through_bytes(vault: EnvelopeVault) -> None:
    sealed = vault.seal(Secret(CANARY), record=REC, field=FIELD)
    column = sealed.to_bytes()
    assert CANARY.encode() not in column
    again = SealedSecret.from_bytes(column)
    assert again == sealed
    assert vault.open(again, record=REC, field=FIELD).reveal() == CANARY


def test_each_seal_uses_a_fresh_data_key_and_nonces(vault: EnvelopeVault) -> None:
    a = vault.seal(Secret(CANARY), record=REC, field=FIELD)
    b = vault.seal(Secret(CANARY), record=REC, field=FIELD)
    assert a.nonce != b.nonce
    assert a.ciphertext != b.ciphertext
    assert a.wrapped_key != b.wrapped_key
    assert len(a.nonce) == 12
    assert len(a.wrapped_key) == 12 + 32 + 16


def test_padding_hides_the_exact_length(vault: EnvelopeVault) -> None:
    lengths = {len(vault.seal(Secret("x" * n), record=REC, field=FIELD).ciphertext) for n in range(0, 32)}
    assert lengths == {32 + 16}
    assert len(vault.seal(Secret("x" * 32), record=REC, field=FIELD).ciphertext) == 64 + 16


def test_empty_and_unicode_secrets_round_trip(vault: EnvelopeVault) -> None:
    for value in ["", "\x00", "ключ-🔑", "a\x80", '{"type": "service_account"}\n' * 50]:
        sealed = vault.seal(Secret(value), record=REC, field=FIELD)
        assert vault.open(sealed, record=REC, field=FIELD).reveal() == value


@settings(max_examples=60, deadline=None)
@given(value=st.text(), record=st.text(min_size=1, max_size=40), field=st.text(min_size=1, max_size=20))
def test_hypothesis_round_trip(value: str, record: str, field: str) -> None:
    vault = EnvelopeVault(Keyring(_KEY))
    try:
        value.encode("utf-8")
        (record + field).encode("utf-8")
    except UnicodeEncodeError:
        with pytest.raises(VaultError):
            vault.seal(Secret(value), record=record, field=field)
        return
    sealed = SealedSecret.from_bytes(vault.seal(Secret(value), record=record, field=field).to_bytes())
    assert vault.open(sealed, record=record, field=field).reveal() == value
    with pytest.raises(DecryptionError):
        vault.open(sealed, record=record + "x", field=field)


_KEY = MasterKey.generate()


@pytest.mark.parametrize(
    ("record", "field"),
    [(REC, "token"), ("registry:7d3d", FIELD), ("registry:7d3c|password", ""), ("", FIELD)],
)
def test_opening_for_another_record_or_field_fails(vault: EnvelopeVault, record: str, field: str) -> None:
    sealed = vault.seal(Secret(CANARY), record=REC, field=FIELD)
    with pytest.raises(VaultError) as info:
        vault.open(sealed, record=record, field=field)
    assert CANARY not in info.value.diagnostics()


def test_ambiguous_separators_do_not_collide(vault: EnvelopeVault) -> None:
    sealed = vault.seal(Secret(CANARY), record="a|b", field="c")
    with pytest.raises(DecryptionError):
        vault.open(sealed, record="a", field="b|c")


def test_swapping_ciphertexts_between_records_fails(vault: EnvelopeVault) -> None:
    a = vault.seal(Secret(CANARY), record="registry:a", field=FIELD)
    b = vault.seal(Secret("other"), record="registry:b", field=FIELD)
    # the whole sealed value moved to another record
    with pytest.raises(DecryptionError, match="registry:b"):
        vault.open(a, record="registry:b", field=FIELD)
    # b's ciphertext under a's wrapped key, and the other way round
    mixed = dataclasses.replace(a, nonce=b.nonce, ciphertext=b.ciphertext)
    with pytest.raises(DecryptionError) as info:
        vault.open(mixed, record="registry:a", field=FIELD)
    assert "registry:a" in str(info.value) and FIELD in str(info.value)
    with pytest.raises(DecryptionError):
        vault.open(mixed, record="registry:b", field=FIELD)


def test_swapping_wrapped_keys_between_fields_fails(vault: EnvelopeVault) -> None:
    a = vault.seal(Secret(CANARY), record=REC, field="password")
    b = vault.seal(Secret("other"), record=REC, field="token")
    with pytest.raises(DecryptionError, match="wrapped data key"):
        vault.open(dataclasses.replace(a, wrapped_key=b.wrapped_key), record=REC, field="password")
    with pytest.raises(DecryptionError):
        vault.open(dataclasses.replace(b, wrapped_key=a.wrapped_key), record=REC, field="token")


def test_a_data_key_copied_with_its_ciphertext_still_fails_elsewhere(vault: EnvelopeVault) -> None:
    # The wrapped key is bound to record and field on its own, so even a
    # consistent (wrapped key, nonce, ciphertext) triple cannot move.
    a = vault.seal(Secret(CANARY), record=REC, field="password")
    with pytest.raises(DecryptionError, match="wrapped data key"):
        vault.open(a, record=REC, field="token")


def test_every_tampered_byte_is_detected(vault: EnvelopeVault) -> None:
    column = vault.seal(Secret(CANARY), record=REC, field=FIELD).to_bytes()
    for i in range(len(column)):
        for flip in (0x01, 0x80):
            tampered = bytearray(column)
            tampered[i] ^= flip
            with pytest.raises(VaultError) as info:
                vault.open(SealedSecret.from_bytes(bytes(tampered)), record=REC, field=FIELD)
            assert CANARY not in info.value.diagnostics()


def test_every_truncation_and_extension_is_detected(vault: EnvelopeVault) -> None:
    column = vault.seal(Secret(CANARY), record=REC, field=FIELD).to_bytes()
    for cut in range(len(column)):
        with pytest.raises(VaultError):
            vault.open(SealedSecret.from_bytes(column[:cut]), record=REC, field=FIELD)
    with pytest.raises(DecryptionError):
        vault.open(SealedSecret.from_bytes(column + b"\x00"), record=REC, field=FIELD)


@given(st.binary(max_size=300))
def test_from_bytes_on_garbage_raises_only_vault_errors(data: bytes) -> None:
    vault = EnvelopeVault(Keyring(_KEY))
    try:
        sealed = SealedSecret.from_bytes(b"hmv\x01" + data)
        vault.open(sealed, record=REC, field=FIELD)
    except VaultError:
        pass
    else:
        pytest.fail("random bytes opened")
    with pytest.raises(SealedSecretFormatError):
        SealedSecret.from_bytes(b"xyz" + data)


def test_from_bytes_errors_are_specific() -> None:
    with pytest.raises(SealedSecretFormatError, match="bad magic"):
        SealedSecret.from_bytes(b"")
    with pytest.raises(SealedSecretFormatError, match="version 2 is not supported"):
        SealedSecret.from_bytes(b"hmv\x02\x00")
    with pytest.raises(SealedSecretFormatError, match="truncated"):
        SealedSecret.from_bytes(b"hmv\x01\x10abc")
    with pytest.raises(SealedSecretFormatError, match="expected bytes"):
        SealedSecret.from_bytes("hmv")  # type: ignore[arg-type]
    with pytest.raises(SealedSecretFormatError, match="key id"):
        SealedSecret.from_bytes(b"hmv\x01\x02\xff\xfe\x00\x00\x00")


def test_sealed_secret_validates_its_fields() -> None:
    good = {"key_id": "00ff", "wrapped_key": b"", "nonce": b"", "ciphertext": b""}
    assert SealedSecret(**good).version == 1  # type: ignore[arg-type]
    for bad in ({"key_id": ""}, {"key_id": "A B"}, {"nonce": "x"}, {"version": 0}, {"version": True}):
        with pytest.raises(SealedSecretFormatError):
            SealedSecret(**{**good, **bad})  # type: ignore[arg-type]


def test_unknown_key_is_named(vault: EnvelopeVault) -> None:
    sealed = vault.seal(Secret(CANARY), record=REC, field=FIELD)
    stranger = EnvelopeVault(Keyring(MasterKey.generate()))
    with pytest.raises(UnknownKeyError) as info:
        stranger.open(sealed, record=REC, field=FIELD)
    assert sealed.key_id in str(info.value)
    assert isinstance(info.value, DecryptionError)


def test_rewrap_keeps_ciphertext_and_plaintext_and_changes_key(key: MasterKey) -> None:
    old_vault = EnvelopeVault(Keyring(key))
    sealed = old_vault.seal(Secret(CANARY), record=REC, field=FIELD)
    new = MasterKey.generate()
    rotating = EnvelopeVault(Keyring(key).with_primary(new))
    assert rotating.needs_rewrap(sealed)
    rewrapped = rotating.rewrap(sealed, record=REC, field=FIELD)
    assert rewrapped.key_id == new.key_id != sealed.key_id
    assert rewrapped.ciphertext == sealed.ciphertext and rewrapped.nonce == sealed.nonce
    assert rewrapped.wrapped_key != sealed.wrapped_key
    assert not rotating.needs_rewrap(rewrapped)
    assert rotating.rewrap(rewrapped, record=REC, field=FIELD) is rewrapped
    # only the new key is needed from now on
    assert EnvelopeVault(Keyring(new)).open(rewrapped, record=REC, field=FIELD).reveal() == CANARY
    with pytest.raises(UnknownKeyError):
        old_vault.open(rewrapped, record=REC, field=FIELD)
    # the keyring still opens records not yet rewrapped
    assert rotating.open(sealed, record=REC, field=FIELD).reveal() == CANARY


def test_rewrap_checks_the_binding(key: MasterKey) -> None:
    sealed = EnvelopeVault(Keyring(key)).seal(Secret(CANARY), record=REC, field=FIELD)
    rotating = EnvelopeVault(Keyring(key).with_primary(MasterKey.generate()))
    with pytest.raises(DecryptionError):
        rotating.rewrap(sealed, record=REC, field="token")


@pytest.mark.parametrize(("record", "field"), [("", "f"), ("r", ""), ("r" * 1025, "f"), ("r", "\ud800")])
def test_bad_record_or_field_is_refused(vault: EnvelopeVault, record: str, field: str) -> None:
    with pytest.raises(VaultError):
        vault.seal(Secret(CANARY), record=record, field=field)


def test_seal_takes_only_secrets(vault: EnvelopeVault) -> None:
    with pytest.raises(VaultError, match="not str"):
        vault.seal(CANARY, record=REC, field=FIELD)  # type: ignore[arg-type]


def test_errors_are_in_the_tree_and_never_hold_the_secret(vault: EnvelopeVault) -> None:
    sealed = vault.seal(Secret(CANARY), record=REC, field=FIELD)
    with pytest.raises(Error) as info:
        # The last byte flipped (replacing it with 0x00 left it unaltered once in 256 runs).
        altered = sealed.ciphertext[:-1] + bytes([sealed.ciphertext[-1] ^ 0x01])
        vault.open(dataclasses.replace(sealed, ciphertext=altered), record=REC, field=FIELD)
    assert isinstance(info.value, VaultError)
    error = info.value
    text = error.diagnostics() + repr(error) + str(error.__cause__) + str(error.__context__)
    assert CANARY not in text
    assert info.value.__suppress_context__


def test_repr_of_vault_objects_hides_material(vault: EnvelopeVault, key: MasterKey) -> None:
    sealed = vault.seal(Secret(CANARY), record=REC, field=FIELD)
    text = repr(sealed) + repr(vault.keyring) + repr(key) + str(key)
    assert sealed.key_id in text
    assert key.export_base64().reveal() not in text
    assert repr(sealed.ciphertext) not in text


def test_format_follows_its_documentation(key: MasterKey) -> None:
    """Open a sealed column by hand, from the documented layout and AAD, to pin the format."""
    vault = EnvelopeVault(Keyring(key))
    column = vault.seal(Secret(CANARY), record=REC, field=FIELD).to_bytes()
    assert column[:3] == b"hmv" and column[3] == 1
    pos = 4
    key_id = column[pos + 1 : pos + 1 + column[pos]].decode()
    pos += 1 + column[pos]
    (wlen,) = struct.unpack(">H", column[pos : pos + 2])
    wrapped = column[pos + 2 : pos + 2 + wlen]
    pos += 2 + wlen
    nonce = column[pos + 1 : pos + 1 + column[pos]]
    ciphertext = column[pos + 1 + column[pos] :]
    assert key_id == key.key_id

    def aad(purpose: bytes, *parts: str) -> bytes:
        return b"harbourmaster/v1|" + purpose + b"".join(
            b"|" + len(p.encode()).to_bytes(4, "big") + p.encode() for p in parts
        )

    raw_key = __import__("base64").b64decode(key.export_base64().reveal())
    data_key = AESGCM(raw_key).decrypt(wrapped[:12], wrapped[12:], aad(b"data-key", key_id, REC, FIELD))
    padded = AESGCM(data_key).decrypt(nonce, ciphertext, aad(b"secret", REC, FIELD))
    assert padded.rstrip(b"\x00") == CANARY.encode() + b"\x80"
    assert len(padded) % 32 == 0
