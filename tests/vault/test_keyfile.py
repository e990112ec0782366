from __future__ import annotations

import base64
import os
import stat
import threading
from pathlib import Path

import pytest

from harbourmaster.domain.secret import Secret
from harbourmaster.vault import (
    MASTER_KEY_ENV,
    PREVIOUS_KEYS_ENV,
    EnvelopeVault,
    MasterKey,
    MasterKeyError,
    RotationError,
    UnknownKeyError,
    begin_rotation,
    commit_rotation,
    create_master_key_file,
    load_keyring,
    pending_rotation,
    read_master_key_file,
    retired_key_path,
)
from tests.vault.conftest import CANARY

REC, FIELD = "registry:1", "password"


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _files(home: Path) -> list[str]:
    return sorted(p.name for p in home.iterdir())


def test_create_writes_0600_and_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    key = create_master_key_file(path)
    assert _mode(path) == 0o600
    assert read_master_key_file(path) == key
    assert path.read_text().strip() == key.export_base64().reveal()
    assert _files(tmp_path) == ["master.key"]  # no temporary file left behind


def test_create_is_0600_even_under_a_permissive_or_strict_umask(tmp_path: Path) -> None:
    for umask in (0o000, 0o777):
        old = os.umask(umask)
        try:
            path = tmp_path / f"k{umask}"
            create_master_key_file(path)
        finally:
            os.umask(old)
        assert _mode(path) == 0o600


def test_create_makes_a_private_parent_directory(tmp_path: Path) -> None:
    path = tmp_path / "new-home" / "master.key"
    create_master_key_file(path)
    assert _mode(path.parent) & 0o077 == 0


def test_create_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_text("precious")
    with pytest.raises(MasterKeyError, match="already exists"):
        create_master_key_file(path)
    assert path.read_text() == "precious"
    dangling = tmp_path / "link.key"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(MasterKeyError, match="already exists"):
        create_master_key_file(dangling)
    assert not (tmp_path / "nowhere").exists()


def test_concurrent_creates_leave_exactly_one_key(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    results: list[object] = []

    def attempt() -> None:
        try:
            results.append(create_master_key_file(path))
        except MasterKeyError as exc:
            results.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if isinstance(r, MasterKey)]
    assert len(winners) == 1
    assert read_master_key_file(path) == winners[0]
    assert _files(tmp_path) == ["master.key"]


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o620, 0o700 | 0o004])
def test_key_file_accessible_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "master.key"
    key = create_master_key_file(path)
    os.chmod(path, mode)
    with pytest.raises(MasterKeyError) as info:
        load_keyring(tmp_path, {})
    message = info.value.diagnostics()
    assert str(path) in message and f"{mode:04o}" in message and "chmod 600" in message
    assert key.export_base64().reveal() not in message


def test_key_file_problems_name_the_path_not_the_content(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, (CANARY + "\n").encode())
    os.close(fd)
    with pytest.raises(MasterKeyError) as info:
        load_keyring(tmp_path, {})
    assert str(path) in str(info.value) and "base64" in str(info.value)
    assert CANARY not in info.value.diagnostics()


def test_key_file_that_is_a_fifo_or_directory_is_refused_without_hanging(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "master.key", 0o600)
    with pytest.raises(MasterKeyError, match="not a regular file"):
        load_keyring(tmp_path, {})
    other = tmp_path / "d"
    (other / "master.key").mkdir(parents=True, mode=0o700)
    with pytest.raises(MasterKeyError, match="not a regular file"):
        load_keyring(other, {})


def test_huge_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"A" * 100_000)
    os.close(fd)
    with pytest.raises(MasterKeyError, match="too large"):
        read_master_key_file(path)


def test_no_key_at_all_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(MasterKeyError) as info:
        load_keyring(tmp_path, {})
    assert MASTER_KEY_ENV in str(info.value) and str(tmp_path / "master.key") in str(info.value)


def test_environment_takes_precedence_over_the_file(tmp_path: Path) -> None:
    file_key = create_master_key_file(tmp_path / "master.key")
    env_key = MasterKey.generate()
    ring = load_keyring(tmp_path, {MASTER_KEY_ENV: env_key.export_base64().reveal()})
    assert ring.primary == env_key
    assert file_key.key_id not in ring
    assert ring.source == MASTER_KEY_ENV


def test_environment_previous_keys_open_old_records(tmp_path: Path) -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    sealed = EnvelopeVault(load_keyring(tmp_path, {MASTER_KEY_ENV: old.export_base64().reveal()})).seal(
        Secret(CANARY), record=REC, field=FIELD
    )
    environ = {
        MASTER_KEY_ENV: new.export_base64().reveal(),
        PREVIOUS_KEYS_ENV: f"{MasterKey.generate().export_base64().reveal()}, {old.export_base64().reveal()}",
    }
    vault = EnvelopeVault(load_keyring(tmp_path, environ))
    assert vault.keyring.primary == new
    rewrapped = vault.rewrap(sealed, record=REC, field=FIELD)
    assert rewrapped.key_id == new.key_id
    assert vault.open(sealed, record=REC, field=FIELD).reveal() == CANARY


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({MASTER_KEY_ENV: CANARY}, MASTER_KEY_ENV),
        ({MASTER_KEY_ENV: base64.b64encode(CANARY.encode()).decode()}, MASTER_KEY_ENV),
        ({MASTER_KEY_ENV: ""}, MASTER_KEY_ENV),
        ({MASTER_KEY_ENV: base64.b64encode(bytes(32)).decode(), PREVIOUS_KEYS_ENV: CANARY},
         f"{PREVIOUS_KEYS_ENV} (entry 1)"),
    ],
)
def test_environment_errors_name_the_variable_not_the_value(
    tmp_path: Path, environ: dict[str, str], named: str
) -> None:
    with pytest.raises(MasterKeyError) as info:
        load_keyring(tmp_path, environ)
    message = info.value.diagnostics()
    assert named in message
    assert CANARY not in message
    for value in environ.values():
        if value:
            assert value not in message
    assert CANARY not in repr(info.value)


def test_rotation_end_to_end(tmp_path: Path) -> None:
    home = tmp_path
    old = create_master_key_file(home / "master.key")
    sealed = EnvelopeVault(load_keyring(home, {})).seal(Secret(CANARY), record=REC, field=FIELD)
    assert pending_rotation(home) is None

    new = begin_rotation(home, environ={})
    assert new != old
    assert _mode(home / "master.key.next") == 0o600
    assert pending_rotation(home) == new
    # while rotating, the keyring still seals under the old key and opens both
    ring = load_keyring(home, {})
    assert ring.primary == old and new.key_id in ring
    rotating = EnvelopeVault(ring.with_primary(new))
    rewrapped = rotating.rewrap(sealed, record=REC, field=FIELD)

    assert commit_rotation(home, environ={}, keep_retired=True) == new
    assert _files(home) == sorted(["master.key", f"master.key.{old.key_id}.retired"])
    assert read_master_key_file(home / "master.key") == new
    retired = retired_key_path(home, old.key_id)
    assert read_master_key_file(retired) == old
    assert _mode(retired) == 0o600 and _mode(home / "master.key") == 0o600

    after = EnvelopeVault(load_keyring(home, {}))
    assert after.keyring.key_ids == (new.key_id,)
    assert after.open(rewrapped, record=REC, field=FIELD).reveal() == CANARY
    with pytest.raises(UnknownKeyError):
        after.open(sealed, record=REC, field=FIELD)
    # an old backup still opens when retired keys are asked for
    with_retired = EnvelopeVault(load_keyring(home, {}, include_retired=True))
    assert with_retired.open(sealed, record=REC, field=FIELD).reveal() == CANARY


def test_rotation_erases_the_old_key_by_default(tmp_path: Path) -> None:
    """Issue 8: retired master keys are not kept indefinitely."""
    home = tmp_path
    old = create_master_key_file(home / "master.key")
    old_bytes = (home / "master.key").read_bytes()
    sealed = EnvelopeVault(load_keyring(home, {})).seal(Secret(CANARY), record=REC, field=FIELD)
    new = begin_rotation(home, environ={})
    rotating = EnvelopeVault(load_keyring(home, {}).with_primary(new))
    rewrapped = rotating.rewrap(sealed, record=REC, field=FIELD)
    assert commit_rotation(home, environ={}) == new
    assert _files(home) == ["master.key"]
    assert all(old_bytes not in p.read_bytes() for p in home.iterdir())
    after = EnvelopeVault(load_keyring(home, {}, include_retired=True))
    assert after.keyring.key_ids == (new.key_id,) and old.key_id not in after.keyring
    assert after.open(rewrapped, record=REC, field=FIELD).reveal() == CANARY


def test_the_erased_key_file_is_overwritten_before_removal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_master_key_file(tmp_path / "master.key")
    old_text = (tmp_path / "master.key").read_bytes()
    begin_rotation(tmp_path, environ={})
    seen: dict[str, bytes] = {}
    real_unlink = os.unlink

    def spy(path: object, *args: object, **kwargs: object) -> None:
        if str(path).endswith(".retiring"):
            seen[str(path)] = Path(str(path)).read_bytes()
        real_unlink(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "unlink", spy)
    commit_rotation(tmp_path, environ={})
    ((name, content),) = seen.items()
    assert content == bytes(len(old_text)) and name.endswith(".retiring")


@pytest.mark.parametrize("crash_after", ["link", "rename"])
def test_a_crash_inside_commit_leaves_every_secret_openable_and_the_next_rotation_cleans_up(
    tmp_path: Path, crash_after: str
) -> None:
    home = tmp_path
    old = create_master_key_file(home / "master.key")
    sealed = EnvelopeVault(load_keyring(home, {})).seal(Secret(CANARY), record=REC, field=FIELD)
    new = begin_rotation(home, environ={})
    rotating = EnvelopeVault(load_keyring(home, {}).with_primary(new))
    rewrapped = rotating.rewrap(sealed, record=REC, field=FIELD)
    # What commit_rotation has done when the process dies: the link, then the rename.
    leftover = home / f"master.key.{old.key_id}.retiring"
    os.link(home / "master.key", leftover)
    if crash_after == "rename":
        os.replace(home / "master.key.next", home / "master.key")
    for blob in (rewrapped, sealed) if crash_after == "link" else (rewrapped,):
        assert EnvelopeVault(load_keyring(home, {})).open(blob, record=REC, field=FIELD).reveal() == CANARY
    if crash_after == "link":
        # 'keys rotate' again resumes with the same key and finishes.
        assert begin_rotation(home, environ={}) == new and leftover.exists()
        assert commit_rotation(home, environ={}) == new
        assert _files(home) == ["master.key"]
    else:
        # The next rotation erases what the crashed one left.
        newer = begin_rotation(home, environ={})
        assert _files(home) == ["master.key", "master.key.next"]
        assert load_keyring(home, {}).primary == new and newer.key_id in load_keyring(home, {})
    assert EnvelopeVault(load_keyring(home, {})).open(rewrapped, record=REC, field=FIELD).reveal() == CANARY


def test_begin_rotation_resumes_with_the_pending_key(tmp_path: Path) -> None:
    create_master_key_file(tmp_path / "master.key")
    first = begin_rotation(tmp_path, environ={})
    assert begin_rotation(tmp_path, environ={}) == first


def test_commit_is_repeatable_after_a_crash_between_its_steps(tmp_path: Path) -> None:
    old = create_master_key_file(tmp_path / "master.key")
    new = begin_rotation(tmp_path, environ={})
    # simulate a crash after the retired link was made, before the rename
    os.link(tmp_path / "master.key", retired_key_path(tmp_path, old.key_id))
    ring = load_keyring(tmp_path, {})
    assert ring.primary == old and new.key_id in ring
    assert commit_rotation(tmp_path, environ={}) == new
    assert load_keyring(tmp_path, {}).primary == new


def test_commit_without_rotation_is_refused(tmp_path: Path) -> None:
    create_master_key_file(tmp_path / "master.key")
    with pytest.raises(RotationError, match="no master-key rotation"):
        commit_rotation(tmp_path, environ={})


def test_commit_refuses_a_retired_file_with_another_key(tmp_path: Path) -> None:
    old = create_master_key_file(tmp_path / "master.key")
    begin_rotation(tmp_path, environ={})
    create_master_key_file(retired_key_path(tmp_path, old.key_id))
    with pytest.raises(RotationError, match="different key"):
        commit_rotation(tmp_path, environ={}, keep_retired=True)
    assert read_master_key_file(tmp_path / "master.key") == old


def test_rotation_without_a_key_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MasterKeyError, match="does not exist"):
        begin_rotation(tmp_path, environ={})
    assert _files(tmp_path) == []


def test_rotation_is_refused_with_the_environment_source(tmp_path: Path) -> None:
    create_master_key_file(tmp_path / "master.key")
    environ = {MASTER_KEY_ENV: MasterKey.generate().export_base64().reveal()}
    for step in (begin_rotation, commit_rotation):
        with pytest.raises(RotationError) as info:
            step(tmp_path, environ=environ)
        assert PREVIOUS_KEYS_ENV in info.value.diagnostics()
        assert environ[MASTER_KEY_ENV] not in info.value.diagnostics()
    assert _files(tmp_path) == ["master.key"]


def test_rotation_reads_the_process_environment_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_master_key_file(tmp_path / "master.key")
    monkeypatch.setenv(MASTER_KEY_ENV, MasterKey.generate().export_base64().reveal())
    with pytest.raises(RotationError):
        begin_rotation(tmp_path)


def test_unsafe_next_key_file_is_refused(tmp_path: Path) -> None:
    create_master_key_file(tmp_path / "master.key")
    begin_rotation(tmp_path, environ={})
    os.chmod(tmp_path / "master.key.next", 0o644)
    with pytest.raises(MasterKeyError, match=r"master\.key\.next"):
        load_keyring(tmp_path, {})
