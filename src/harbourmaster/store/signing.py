"""The signing repository on SQLAlchemy: vault signing keys and cached verification verdicts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from harbourmaster.store.interface import Rewrap, SigningRepository
from harbourmaster.store.models import SignatureVerificationRow, SigningKeyRow
from harbourmaster.store.values import (
    SIGNING_KEY_FIELD,
    CachedVerification,
    StoredSigningKey,
    signing_key_record,
)

__all__ = ["SqlSigningRepository"]


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _key(row: SigningKeyRow) -> StoredSigningKey:
    return StoredSigningKey(name=row.name, algorithm=row.algorithm, fingerprint=row.fingerprint,
                            public_key_pem=row.public_key_pem, created_at=_aware(row.created_at),
                            created_by=row.created_by)


def _verification(row: SignatureVerificationRow) -> CachedVerification:
    return CachedVerification(image_digest=row.image_digest, trust_fingerprint=row.trust_fingerprint,
                              satisfied=row.satisfied, result=dict(row.result),
                              verified_at=_aware(row.verified_at))


class SqlSigningRepository(SigningRepository):
    def __init__(self, session: Session) -> None:
        self._session = session

    def add_key(self, key: StoredSigningKey, *, sealed: bytes) -> bool:
        if self._session.scalar(select(SigningKeyRow.id).where(SigningKeyRow.name == key.name)) is not None:
            return False
        self._session.add(SigningKeyRow(name=key.name, algorithm=key.algorithm, fingerprint=key.fingerprint,
                                        public_key_pem=key.public_key_pem, sealed_private_key=sealed,
                                        created_at=key.created_at, created_by=key.created_by))
        self._session.flush()
        return True

    def list_keys(self) -> list[StoredSigningKey]:
        return [_key(r) for r in self._session.scalars(select(SigningKeyRow).order_by(SigningKeyRow.name))]

    def sealed_key(self, name: str) -> tuple[StoredSigningKey, bytes] | None:
        row = self._session.scalar(select(SigningKeyRow).where(SigningKeyRow.name == name))
        return None if row is None else (_key(row), bytes(row.sealed_private_key))

    def rewrap(self, rewrap: Rewrap) -> int:
        rows = list(self._session.scalars(select(SigningKeyRow)))
        for row in rows:
            row.sealed_private_key = rewrap(signing_key_record(row.name), SIGNING_KEY_FIELD,
                                            bytes(row.sealed_private_key))
        self._session.flush()
        return len(rows)

    def cached(self, image_digest: str, trust_fingerprint: str) -> CachedVerification | None:
        row = self._session.scalar(select(SignatureVerificationRow).where(
            SignatureVerificationRow.image_digest == image_digest,
            SignatureVerificationRow.trust_fingerprint == trust_fingerprint))
        return None if row is None else _verification(row)

    def cached_many(self, keys: Collection[tuple[str, str]]) -> dict[tuple[str, str], CachedVerification]:
        wanted = set(keys)
        if not wanted:
            return {}
        rows = self._session.scalars(select(SignatureVerificationRow).where(
            SignatureVerificationRow.image_digest.in_(sorted({d for d, _ in wanted}))))
        return {(row.image_digest, row.trust_fingerprint): _verification(row)
                for row in rows if (row.image_digest, row.trust_fingerprint) in wanted}

    def cache(self, verification: CachedVerification) -> None:
        row = self._session.scalar(select(SignatureVerificationRow).where(
            SignatureVerificationRow.image_digest == verification.image_digest,
            SignatureVerificationRow.trust_fingerprint == verification.trust_fingerprint))
        if row is None:
            row = SignatureVerificationRow(image_digest=verification.image_digest,
                                           trust_fingerprint=verification.trust_fingerprint)
            self._session.add(row)
        row.satisfied = verification.satisfied
        row.result = verification.result
        row.verified_at = verification.verified_at
        self._session.flush()

    def forget(self, image_digest: str) -> int:
        result = self._session.execute(delete(SignatureVerificationRow).where(
            SignatureVerificationRow.image_digest == image_digest))
        return int(getattr(result, "rowcount", 0) or 0)
