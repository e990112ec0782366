"""Reading a zip archive's members one at a time without loading its whole table of contents.

:class:`zipfile.ZipFile` reads the central directory into a list of ``ZipInfo``
objects when it opens an archive: about 600 bytes per member, so 120 MiB for an
OSV export of 200,000 records before the first one is read.  This subclass
locates the central directory the same way but walks it lazily, one entry at a
time, and hands each ``ZipInfo`` to :meth:`zipfile.ZipFile.open` (which accepts
any ``ZipInfo``).  It relies on ``zipfile``'s module-level record layouts and
``ZipInfo._decodeExtra`` (ZIP64 sizes), which CPython has kept stable since 3.6.
"""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Iterator
from typing import Any, BinaryIO

__all__ = ["StreamingZip"]

_zf: Any = zipfile  # the record layouts below are module internals without type stubs


class StreamingZip(zipfile.ZipFile):
    """A read-only :class:`zipfile.ZipFile` whose :meth:`iter_infos` yields members lazily."""

    def __init__(self, path: str) -> None:
        self._path = path
        super().__init__(path, "r")

    def _RealGetContents(self) -> None:
        fp = self.fp
        try:
            endrec = _zf._EndRecData(fp)
        except OSError:
            raise zipfile.BadZipFile("File is not a zip file") from None
        if not endrec:
            raise zipfile.BadZipFile("File is not a zip file")
        size_cd, offset_cd = endrec[_zf._ECD_SIZE], endrec[_zf._ECD_OFFSET]
        concat = endrec[_zf._ECD_LOCATION] - size_cd - offset_cd
        if endrec[_zf._ECD_SIGNATURE] == _zf.stringEndArchive64:
            concat -= _zf.sizeEndCentDir64 + _zf.sizeEndCentDir64Locator
        self.start_dir = offset_cd + concat
        if self.start_dir < 0:
            raise zipfile.BadZipFile("Bad offset for central directory")
        self._size_cd = size_cd
        self._concat = concat

    def iter_infos(self) -> Iterator[zipfile.ZipInfo]:
        """Each member's ``ZipInfo``, in central-directory order.

        Raises:
            zipfile.BadZipFile: the central directory is truncated or corrupt.
        """
        with open(self._path, "rb") as cd:
            cd.seek(self.start_dir)
            total = 0
            while total < self._size_cd:
                info, size = self._read_entry(cd)
                total += size
                yield info

    def _read_entry(self, cd: BinaryIO) -> tuple[zipfile.ZipInfo, int]:
        raw = cd.read(_zf.sizeCentralDir)
        if len(raw) != _zf.sizeCentralDir:
            raise zipfile.BadZipFile("Truncated central directory")
        centdir = struct.unpack(_zf.structCentralDir, raw)
        if centdir[_zf._CD_SIGNATURE] != _zf.stringCentralDir:
            raise zipfile.BadZipFile("Bad magic number for central directory")
        name = cd.read(centdir[_zf._CD_FILENAME_LENGTH])
        flags = centdir[_zf._CD_FLAG_BITS]
        filename = name.decode("utf-8" if flags & _zf._MASK_UTF_FILENAME else "cp437")
        info = zipfile.ZipInfo(filename)
        info.extra = cd.read(centdir[_zf._CD_EXTRA_FIELD_LENGTH])
        info.comment = cd.read(centdir[_zf._CD_COMMENT_LENGTH])
        (
            info.create_version,
            info.create_system,
            info.extract_version,
            info.reserved,
            info.flag_bits,
            info.compress_type,
            time,
            date,
            info.CRC,
            info.compress_size,
            info.file_size,
        ) = centdir[1:12]
        info.volume, info.internal_attr, info.external_attr = centdir[15:18]
        info._raw_time = time  # type: ignore[attr-defined]
        info.date_time = (
            (date >> 9) + 1980,
            (date >> 5) & 0xF,
            date & 0x1F,
            time >> 11,
            (time >> 5) & 0x3F,
            (time & 0x1F) * 2,
        )
        info.header_offset = centdir[_zf._CD_LOCAL_HEADER_OFFSET]
        info._decodeExtra()  # type: ignore[attr-defined]
        info.header_offset += self._concat
        size = (
            _zf.sizeCentralDir
            + centdir[_zf._CD_FILENAME_LENGTH]
            + centdir[_zf._CD_EXTRA_FIELD_LENGTH]
            + centdir[_zf._CD_COMMENT_LENGTH]
        )
        return info, size
