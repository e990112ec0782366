"""The catalogers harbourmaster ships, one module each."""

from __future__ import annotations

from harbourmaster.supply.sbom.catalogers.apk import ApkCataloger
from harbourmaster.supply.sbom.catalogers.dpkg import DpkgCataloger
from harbourmaster.supply.sbom.catalogers.golang import GoBinaryCataloger
from harbourmaster.supply.sbom.catalogers.java import JavaArchiveCataloger
from harbourmaster.supply.sbom.catalogers.npm import NpmCataloger
from harbourmaster.supply.sbom.catalogers.osrelease import OsReleaseCataloger
from harbourmaster.supply.sbom.catalogers.python import PythonCataloger
from harbourmaster.supply.sbom.catalogers.rpm import RpmCataloger
from harbourmaster.supply.sbom.catalogers.ruby import RubyGemCataloger
from harbourmaster.supply.sbom.interface import Cataloger

__all__ = [
    "ApkCataloger",
    "DpkgCataloger",
    "GoBinaryCataloger",
    "JavaArchiveCataloger",
    "NpmCataloger",
    "OsReleaseCataloger",
    "PythonCataloger",
    "RpmCataloger",
    "RubyGemCataloger",
    "default_catalogers",
]


def default_catalogers() -> list[Cataloger]:
    """One instance of every cataloger, OS packages first."""
    return [OsReleaseCataloger(), DpkgCataloger(), ApkCataloger(), RpmCataloger(), PythonCataloger(),
            NpmCataloger(), GoBinaryCataloger(), JavaArchiveCataloger(), RubyGemCataloger()]
