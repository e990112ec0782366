"""OpenVEX documents: statements that a product is ``not_affected`` by a vulnerability suppress findings.

A statement applies to a finding when one of its vulnerability names (``name``
or ``aliases``) is the finding's id or an alias, and one of its products is the
finding's package (by purl: type, namespace and name equal; version and
qualifiers, when the statement gives them, equal too) or the scanned image
(its ``pkg:oci`` purl, name or digest) with either no ``subcomponents`` or a
subcomponent that is the package.  Later statements override earlier ones
(OpenVEX's rule for one document; documents are read in the order given).
Only a final ``not_affected`` suppresses; it must carry a ``justification``
or an ``impact_statement``, as the specification requires.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packageurl import PackageURL

from harbourmaster.domain.findings import Finding, SuppressedBy
from harbourmaster.errors import BadInput

__all__ = ["JUSTIFICATIONS", "STATUSES", "VexError", "VexStatement", "apply_vex", "parse_openvex"]

STATUSES = frozenset({"not_affected", "affected", "fixed", "under_investigation"})
JUSTIFICATIONS = frozenset(
    {
        "component_not_present",
        "vulnerable_code_not_present",
        "vulnerable_code_not_in_execute_path",
        "vulnerable_code_cannot_be_controlled_by_adversary",
        "inline_mitigations_already_exist",
    }
)
MAX_VEX_BYTES = 32 * 1024 * 1024


class VexError(BadInput):
    """An OpenVEX document is malformed; the message names the document and the field."""

    kind = "vex-invalid"


@dataclass(frozen=True, slots=True, kw_only=True)
class VexProduct:
    id: str
    subcomponents: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class VexStatement:
    """One statement: vulnerability names, products, status and why."""

    source: str
    names: frozenset[str]
    products: tuple[VexProduct, ...]
    status: str
    justification: str | None
    impact_statement: str | None


def _ids(value: Any, *, where: str) -> tuple[str, ...]:
    out: list[str] = []
    for index, item in enumerate(value or []):
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, Mapping) and isinstance(item.get("@id"), str):
            out.append(item["@id"])
        else:
            raise VexError(f"{where}[{index}]: must be a string or an object with an '@id'")
    return tuple(out)


def _statement(raw: Any, *, source: str, index: int) -> VexStatement:
    where = f"{source}: statements[{index}]"
    if not isinstance(raw, Mapping):
        raise VexError(f"{where}: must be an object")
    vuln = raw.get("vulnerability")
    names: list[str] = []
    if isinstance(vuln, str):  # OpenVEX 0.0.x
        names.append(vuln)
    elif isinstance(vuln, Mapping):
        for key in ("name", "@id"):
            if isinstance(vuln.get(key), str):
                names.append(vuln[key])
        aliases = vuln.get("aliases") or []
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise VexError(f"{where}.vulnerability.aliases: must be a list of strings")
        names.extend(aliases)
    if not names:
        raise VexError(f"{where}.vulnerability: a vulnerability name is required")
    products: list[VexProduct] = []
    raw_products = raw.get("products")
    if not isinstance(raw_products, list) or not raw_products:
        raise VexError(f"{where}.products: a non-empty list of products is required")
    shared_subs = _ids(raw.get("subcomponents"), where=f"{where}.subcomponents")
    for p_index, product in enumerate(raw_products):
        if isinstance(product, str):
            products.append(VexProduct(id=product, subcomponents=shared_subs))
        elif isinstance(product, Mapping) and isinstance(product.get("@id"), str):
            subs = _ids(product.get("subcomponents"), where=f"{where}.products[{p_index}].subcomponents")
            products.append(VexProduct(id=product["@id"], subcomponents=subs or shared_subs))
        else:
            raise VexError(f"{where}.products[{p_index}]: must be a string or an object with an '@id'")
    status = raw.get("status")
    if status not in STATUSES:
        raise VexError(f"{where}.status: {status!r} is not one of {', '.join(sorted(STATUSES))}")
    justification = raw.get("justification")
    impact = raw.get("impact_statement")
    if justification is not None and justification not in JUSTIFICATIONS:
        raise VexError(
            f"{where}.justification: {justification!r} is not one of {', '.join(sorted(JUSTIFICATIONS))}"
        )
    if status == "not_affected" and not justification and not impact:
        raise VexError(f"{where}: a not_affected statement needs a justification or an impact_statement")
    return VexStatement(
        source=source,
        names=frozenset(n.lower() for n in names),
        products=tuple(products),
        status=str(status),
        justification=justification,
        impact_statement=impact if isinstance(impact, str) else None,
    )


def parse_openvex(text: str | bytes, *, source: str) -> tuple[VexStatement, ...]:
    """The statements of an OpenVEX JSON document.

    Raises:
        VexError: not JSON, no ``statements`` list, or a statement without a vulnerability or products,
            with an unknown status or justification, or ``not_affected`` without a justification or an
            impact statement; the message names ``source`` and the field.
    """
    if len(text) > MAX_VEX_BYTES:
        raise VexError(f"{source}: larger than {MAX_VEX_BYTES} bytes")
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise VexError(f"{source}: not a JSON OpenVEX document ({exc})") from None
    if not isinstance(doc, Mapping) or not isinstance(doc.get("statements"), list):
        raise VexError(f"{source}: not an OpenVEX document (no 'statements' list)")
    return tuple(_statement(s, source=source, index=i) for i, s in enumerate(doc["statements"]))


def _purl(text: str) -> PackageURL | None:
    if not text.startswith("pkg:"):
        return None
    try:
        return PackageURL.from_string(text)
    except ValueError:
        return None


def _purl_covers(wanted: PackageURL, actual: PackageURL) -> bool:
    if (wanted.type, (wanted.namespace or "").lower(), wanted.name) != (
        actual.type,
        (actual.namespace or "").lower(),
        actual.name,
    ):
        return False
    if wanted.version and wanted.version != actual.version:
        return False
    want_q = wanted.qualifiers if isinstance(wanted.qualifiers, dict) else {}
    have_q = actual.qualifiers if isinstance(actual.qualifiers, dict) else {}
    return all(have_q.get(k) == v for k, v in want_q.items())


def _is_package(product: str, purl: str) -> bool:
    wanted, actual = _purl(product), _purl(purl)
    if wanted is None or actual is None:
        return product == purl
    return _purl_covers(wanted, actual)


def _is_image(product: str, image_ids: Sequence[str]) -> bool:
    if product in image_ids:
        return True
    wanted = _purl(product)
    if wanted is None or wanted.type != "oci":
        return False
    for ident in image_ids:
        actual = _purl(ident)
        if (
            actual is not None
            and actual.type == "oci"
            and wanted.name == actual.name
            and (not wanted.version or wanted.version == actual.version)
        ):
            return True
        if wanted.version and ident == wanted.version:  # the image digest
            return True
    return False


def _applies(statement: VexStatement, finding: Finding, image_ids: Sequence[str]) -> bool:
    if not statement.names & {n.lower() for n in finding.names}:
        return False
    purl = finding.package.purl
    for product in statement.products:
        if _is_image(product.id, image_ids):
            if not product.subcomponents or any(_is_package(s, purl) for s in product.subcomponents):
                return True
        elif _is_package(product.id, purl):
            return True
    return False


def apply_vex(
    findings: Iterable[Finding], statements: Sequence[VexStatement], *, image_ids: Sequence[str]
) -> tuple[Finding, ...]:
    """Mark findings whose last applicable statement is ``not_affected`` as suppressed by VEX.

    ``image_ids`` are the scanned image's identities (its ``pkg:oci`` purl, name, digest, name@digest).
    Never raises.
    """
    out: list[Finding] = []
    for finding in findings:
        final: VexStatement | None = None
        for statement in statements:
            if _applies(statement, finding, image_ids):
                final = statement
        if final is not None and final.status == "not_affected":
            why = final.justification or final.impact_statement or ""
            finding = finding.suppress(SuppressedBy.VEX, f"VEX {final.source}: not_affected ({why})")
        elif final is not None:
            finding = finding.with_note(f"VEX {final.source}: {final.status}")
        out.append(finding)
    return tuple(out)
