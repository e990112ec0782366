"""The SBOM document formats harbourmaster writes, and the one place that maps a format to a writer."""

from __future__ import annotations

import enum
from typing import assert_never

from harbourmaster.supply.sbom.interface import Sbom

__all__ = ["SbomFormat", "render_sbom", "validate_sbom"]


class SbomFormat(enum.StrEnum):
    CYCLONEDX_JSON = "cyclonedx-json"
    SPDX_JSON = "spdx-json"

    @property
    def media_type(self) -> str:
        """The artifact media type an attached SBOM of this format carries."""
        if self is SbomFormat.CYCLONEDX_JSON:
            return "application/vnd.cyclonedx+json"
        if self is SbomFormat.SPDX_JSON:
            return "application/spdx+json"
        assert_never(self)


def render_sbom(sbom: Sbom, fmt: SbomFormat) -> str:
    """The SBOM as a document of ``fmt``."""
    # Each writer is imported when used: cyclonedx-python-lib alone takes a tenth of a second to load.
    if fmt is SbomFormat.CYCLONEDX_JSON:
        from harbourmaster.supply.sbom.cyclonedx import to_cyclonedx_json

        return to_cyclonedx_json(sbom)
    if fmt is SbomFormat.SPDX_JSON:
        from harbourmaster.supply.sbom.spdx import to_spdx_json

        return to_spdx_json(sbom)
    assert_never(fmt)


def validate_sbom(document: str, fmt: SbomFormat) -> None:
    """Validate ``document`` against the official schema of ``fmt``; raises a :class:`SbomError` subclass."""
    if fmt is SbomFormat.CYCLONEDX_JSON:
        from harbourmaster.supply.sbom.cyclonedx import validate_cyclonedx

        validate_cyclonedx(document)
    elif fmt is SbomFormat.SPDX_JSON:
        from harbourmaster.supply.sbom.spdx import validate_spdx

        validate_spdx(document)
    else:
        assert_never(fmt)
