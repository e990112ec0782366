from __future__ import annotations

import os
from pathlib import Path

import pytest

from harbourmaster.domain.secret import SecretReference, SecretReferenceError, parse_secret_reference
from harbourmaster.vault import MAX_SECRET_FILE_BYTES, UnresolvedSecretError, resolve_secret_reference
from tests.vault.conftest import CANARY

FIELD = "registries[0].password"


def test_env_reference_resolves() -> None:
    secret = resolve_secret_reference("env:REG_PASS", field=FIELD, environ={"REG_PASS": CANARY})
    assert secret.reveal() == CANARY


def test_env_reference_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HM_TEST_REG_PASS", CANARY)
    ref = parse_secret_reference("env:HM_TEST_REG_PASS", field=FIELD)
    assert resolve_secret_reference(ref, field=FIELD).reveal() == CANARY


def test_missing_and_empty_variables_are_named() -> None:
    with pytest.raises(UnresolvedSecretError) as info:
        resolve_secret_reference("env:X", field=FIELD, environ={})
    assert str(info.value) == "registries[0].password: environment variable X is not set"
    with pytest.raises(UnresolvedSecretError, match="environment variable X is empty"):
        resolve_secret_reference("env:X", field=FIELD, environ={"X": ""})


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (CANARY + "\n", CANARY),
        (CANARY + "\r\n", CANARY),
        (CANARY + "\n\n", CANARY + "\n"),
        (CANARY, CANARY),
        ('{\n  "type": "service_account"\n}\n', '{\n  "type": "service_account"\n}'),
    ],
)
def test_file_reference_strips_one_trailing_newline(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "secret"
    path.write_bytes(content.encode())
    assert resolve_secret_reference(f"file:{path}", field=FIELD).reveal() == expected


def test_file_through_a_symlink_like_a_kubernetes_secret_volume(tmp_path: Path) -> None:
    (tmp_path / "..data").mkdir()
    (tmp_path / "..data" / "token").write_text(CANARY)
    (tmp_path / "token").symlink_to(tmp_path / "..data" / "token")
    assert resolve_secret_reference(f"file:{tmp_path / 'token'}", field=FIELD).reveal() == CANARY


def _problem(tmp_path: Path, setup: str) -> Path:
    path = tmp_path / "secret"
    if setup == "missing":
        pass
    elif setup == "empty":
        path.write_text("\n")
    elif setup == "directory":
        path.mkdir()
    elif setup == "fifo":
        os.mkfifo(path)
    elif setup == "binary":
        path.write_bytes(b"\xff\xfe" + CANARY.encode())
    elif setup == "huge":
        path.write_bytes(CANARY.encode() * (MAX_SECRET_FILE_BYTES // len(CANARY) + 2))
    elif setup == "under-a-file":
        (tmp_path / "plain").write_text(CANARY)
        path = tmp_path / "plain" / "secret"
    return path


@pytest.mark.parametrize(
    ("setup", "fragment"),
    [
        ("missing", "does not exist"),
        ("empty", "is empty"),
        ("directory", "not a regular file"),
        ("fifo", "not a regular file"),
        ("binary", "not UTF-8"),
        ("huge", "larger than"),
        ("under-a-file", "cannot be opened: Not a directory"),
    ],
)
def test_file_problems_name_field_and_file_never_content(tmp_path: Path, setup: str, fragment: str) -> None:
    path = _problem(tmp_path, setup)
    with pytest.raises(UnresolvedSecretError) as info:
        resolve_secret_reference(f"file:{path}", field=FIELD)
    message = info.value.diagnostics()
    assert message.startswith(f"{FIELD}: secret file {path}")
    assert fragment in message
    assert CANARY not in message and CANARY not in repr(info.value)


def test_inline_secret_is_refused_without_echo() -> None:
    with pytest.raises(SecretReferenceError) as info:
        resolve_secret_reference(CANARY, field=FIELD, environ={})
    assert CANARY not in info.value.diagnostics()
    assert "never inline" in info.value.diagnostics()


def test_accepts_a_parsed_reference() -> None:
    ref = SecretReference(scheme="env", target="T")
    assert resolve_secret_reference(ref, field=FIELD, environ={"T": "v"}).reveal() == "v"
