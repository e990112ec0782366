"""Whom the governance model trusts to sign images: keys, keyless identities and Notation policies.

The ``signing`` section of the governance document names each trusted signer;
tiers then name the signers they accept (:class:`~harbourmaster.domain.tiers.TierPolicy`
``signers`` and ``signers_required``).  Key material is kept as text (PEM, the
trusted-root JSON, the Notation trust policy JSON) and parsed by the signing
adapter where it is used; this module only names, checks references and
fingerprints the whole configuration, so a cached verification is reused only
while the trust it was made with is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field

from harbourmaster.domain.spelling import did_you_mean

__all__ = [
    "NotationTrust",
    "NotationTrustStoreConfig",
    "SigningTrust",
    "TrustedIdentity",
    "TrustedKey",
    "signing_problems",
]


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """A public key trusted under a name (PEM ``PUBLIC KEY``)."""

    name: str
    public_key_pem: str


@dataclass(frozen=True, slots=True)
class TrustedIdentity:
    """A keyless signer: certificates from ``issuer`` whose identity fully matches ``subject_regex``."""

    name: str
    issuer: str
    subject_regex: str


@dataclass(frozen=True, slots=True)
class NotationTrustStoreConfig:
    """A Notation trust store: ``type`` (``ca`` or ``signingAuthority``) and PEM certificates."""

    name: str
    type: str
    certificates_pem: str


@dataclass(frozen=True, slots=True)
class NotationTrust:
    """Notation's trust stores and trust policy document (JSON text, version 1.0)."""

    trust_stores: tuple[NotationTrustStoreConfig, ...] = ()
    trust_policy_json: str | None = None
    #: The names of the trust policies in the document: each is a signer name tiers may use.
    policy_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SigningTrust:
    """The ``signing`` section: every trusted signer, and the sigstore trusted root for keyless ones."""

    keys: tuple[TrustedKey, ...] = ()
    identities: tuple[TrustedIdentity, ...] = ()
    trusted_root_json: str | None = None
    notation: NotationTrust = field(default_factory=NotationTrust)

    @property
    def signer_names(self) -> tuple[str, ...]:
        """Every name a tier may list as a signer, in document order."""
        return (*(k.name for k in self.keys), *(i.name for i in self.identities), *self.notation.policy_names)

    def fingerprint(self, signers: tuple[str, ...] = ()) -> str:
        """SHA-256 over the trust material of ``signers`` (all when empty), the trusted root and the
        Notation configuration: equal fingerprints, equal verdicts."""
        wanted = set(signers) or set(self.signer_names)
        material = {
            "keys": [asdict(k) for k in self.keys if k.name in wanted],
            "identities": [asdict(i) for i in self.identities if i.name in wanted],
            "trusted_root": self.trusted_root_json if self.identities else None,
            "notation": asdict(self.notation) if set(self.notation.policy_names) & wanted else None,
        }
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


_SIGNER_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,126}[a-z0-9])?$")


def signing_problems(
    trust: SigningTrust,
    tier_signers: Mapping[str, tuple[str, ...]],
    *,
    locate: Callable[[object], str],
    unchecked: frozenset[str] = frozenset(),
) -> list[tuple[str, str]]:
    """(document path, problem) for every signer name that is malformed or defined twice, and every
    tier signer that is not defined (with the closest defined name).  Names in ``unchecked`` were
    defined by entries whose own problems were reported already."""
    problems: list[tuple[str, str]] = []
    entries: list[object] = [*trust.keys, *trust.identities]
    names = [k.name for k in trust.keys] + [i.name for i in trust.identities]
    seen: set[str] = set()
    for entry, name in zip(entries, names, strict=False):
        if not _SIGNER_NAME.match(name):
            problems.append((f"{locate(entry)}.name", f"{name!r} is not a valid signer name (lowercase "
                                                      "letters, digits, '.', '_', '-'; at most 128)"))
        if name in seen:
            problems.append((f"{locate(entry)}.name", f"signer {name} is defined more than once"))
        seen.add(name)
    for name in trust.notation.policy_names:
        if name in seen:
            problems.append(("signing.notation.trust_policy",
                             f"the Notation trust policy {name} has the name of another signer"))
        seen.add(name)
    defined = set(names) | set(trust.notation.policy_names)
    for tier, signers in tier_signers.items():
        for index, signer in enumerate(signers):
            if signer not in defined and signer not in unchecked:
                problems.append((f"tiers.{tier}.signers[{index}]",
                                 f"signer {signer} is not defined under signing"
                                 f"{did_you_mean(signer, defined | unchecked)}"))
    return problems
