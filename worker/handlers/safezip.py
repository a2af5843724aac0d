"""Reading members of an untrusted zip with limits: nothing is extracted, every size is capped and checked."""

from __future__ import annotations

import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from worker.handlers.common import BadFile, UnsafeFile, quoted

MiB = 1 << 20
EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
ZIP64_LOCATOR = struct.Struct("<4sLQL")
ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
LOCAL_HEADER = struct.Struct("<4s5H3L2H")
CHUNK = 64 * 1024

# zipfile parses the central directory, once its size and entry count are bounded from the end record. Member
# data is read by our own code from the local header the directory points at, so a member can never yield more
# than it declares, overlapping members are refused before anything is inflated, and a bad CRC is an error.


@dataclass(frozen=True, slots=True)
class ZipLimits:
    """Caps for one archive. The defaults fit any real e-book with a wide margin."""

    max_members: int = 10_000
    max_directory_bytes: int = 16 * MiB  # the central directory itself
    max_member_bytes: int = 64 * MiB  # declared and actual size of one member
    max_total_bytes: int = 256 * MiB  # declared sizes of all members; and all bytes actually read
    max_ratio: int = 100  # uncompressed / compressed, for members over ratio_floor
    ratio_floor: int = 1 * MiB


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    size: int
    compressed: int
    method: int
    crc: int
    data_start: int


class SafeZip:
    """An untrusted zip archive, validated as a whole on open; members are read by name, never extracted."""

    def __init__(self, path: Path, limits: ZipLimits | None = None) -> None:
        self.limits = limits or ZipLimits()
        self._file: BinaryIO = open(path, "rb")  # noqa: SIM115 (closed by close() / the with block)
        self._read_total = 0
        try:
            self._size = os.fstat(self._file.fileno()).st_size
            self._check_end_record()
            try:
                infos = zipfile.ZipFile(self._file).infolist()
            except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, ValueError, struct.error,
                    EOFError, OSError) as error:  # every way zipfile says "a damaged directory"
                raise BadFile(f"not a readable zip archive: {error}") from error
            self.members = self._validate(infos)
        except BaseException:
            self._file.close()
            raise

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def __contains__(self, name: str) -> bool:
        return name in self.members

    def names(self) -> Iterator[str]:
        return iter(self.members)

    # --- validation of the whole archive, before any member is read -------------------------------------
    def _check_end_record(self) -> None:
        """Bound the entry count and directory size from the end record, before zipfile reads them."""
        tail_len = min(self._size, EOCD.size + 0xFFFF)
        self._file.seek(self._size - tail_len)
        tail = self._file.read(tail_len)
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < EOCD.size:
            raise BadFile("not a zip archive (no end-of-central-directory record; truncated?)")
        _, _, _, _, entries, directory_size, _, _ = EOCD.unpack_from(tail, at)
        if (entries == 0xFFFF or directory_size == 0xFFFFFFFF) and at >= ZIP64_LOCATOR.size:
            signature, _, offset, _ = ZIP64_LOCATOR.unpack_from(tail, at - ZIP64_LOCATOR.size)
            if signature == b"PK\x06\x07" and offset + ZIP64_EOCD.size <= self._size:
                self._file.seek(offset)
                record = self._file.read(ZIP64_EOCD.size)
                if record[:4] == b"PK\x06\x06":
                    fields = ZIP64_EOCD.unpack(record)
                    entries, directory_size = fields[7], fields[8]
        self._check_count(entries)
        if directory_size > self.limits.max_directory_bytes:
            raise UnsafeFile(f"the zip's central directory is {directory_size:,} bytes, over the limit of "
                             f"{self.limits.max_directory_bytes:,}")

    def _check_count(self, count: int) -> None:
        if count > self.limits.max_members:
            raise UnsafeFile(f"the zip has {count:,} members, over the limit of {self.limits.max_members:,}")

    def _validate(self, infos: list[zipfile.ZipInfo]) -> dict[str, Member]:
        self._check_count(len(infos))
        members: dict[str, Member] = {}
        declared_total = 0
        for info in infos:
            self._check_entry(info)
            if info.filename in members:
                raise UnsafeFile(f"the zip has two members named {quoted(info.filename)}")
            declared_total += info.file_size
            if declared_total > self.limits.max_total_bytes:
                raise UnsafeFile(f"the zip's members declare {declared_total:,}+ bytes in all, over the limit "
                                 f"of {self.limits.max_total_bytes:,} (a zip bomb?)")
            members[info.filename] = Member(info.filename, info.file_size, info.compress_size, info.compress_type,
                                             info.CRC, self._data_start(info))
        self._check_overlaps(infos, members)
        return members

    def _check_entry(self, info: zipfile.ZipInfo) -> None:
        name, limits = info.filename, self.limits
        unsafe_name = unsafe_reason(name)
        if unsafe_name:
            raise UnsafeFile(f"zip member {quoted(name)} has an unsafe name: {unsafe_name}")
        if info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16):
            raise UnsafeFile(f"zip member {quoted(name)} is a symbolic link")
        if info.flag_bits & 0x1:
            raise BadFile(f"zip member {quoted(name)} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise BadFile(f"zip member {quoted(name)} uses compression method {info.compress_type}; "
                          "only stored and deflated are read")
        if info.file_size > limits.max_member_bytes:
            raise UnsafeFile(f"zip member {quoted(name)} declares {info.file_size:,} bytes, over the limit of "
                             f"{limits.max_member_bytes:,} per member (a zip bomb?)")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limits.ratio_floor and ratio > limits.max_ratio:
            raise UnsafeFile(f"zip member {quoted(name)} would expand {ratio:,.0f} times "
                             f"({info.compress_size:,} to {info.file_size:,} bytes), over the limit of "
                             f"{limits.max_ratio} (a zip bomb?)")

    def _data_start(self, info: zipfile.ZipInfo) -> int:
        """Where the member's data begins, from its local header (which must agree with the directory)."""
        if info.header_offset < 0 or info.header_offset + LOCAL_HEADER.size > self._size:
            raise BadFile(f"zip member {quoted(info.filename)} points outside the file")
        self._file.seek(info.header_offset)
        header = self._file.read(LOCAL_HEADER.size)
        fields = LOCAL_HEADER.unpack(header)
        if fields[0] != b"PK\x03\x04":
            raise BadFile(f"zip member {quoted(info.filename)} has no local header where the directory says")
        name_len, extra_len = fields[9], fields[10]
        start = info.header_offset + LOCAL_HEADER.size + name_len + extra_len
        if start + info.compress_size > self._size:
            raise BadFile(f"zip member {quoted(info.filename)} runs past the end of the file (truncated?)")
        return start

    def _check_overlaps(self, infos: list[zipfile.ZipInfo], members: dict[str, Member]) -> None:
        spans = sorted((info.header_offset, index, members[info.filename].data_start + info.compress_size,
                        info.filename) for index, info in enumerate(infos))
        end, owner = 0, ""
        for start, _, stop, name in spans:  # sorted by start: each must begin after every earlier one ended
            if start < end:
                raise UnsafeFile(f"zip members {quoted(owner)} and {quoted(name)} overlap (a zip bomb?)")
            if stop > end:
                end, owner = stop, name

    # --- reading ---------------------------------------------------------------------------------------------
    def read(self, name: str, limit: int | None = None) -> bytes:
        """A member's bytes, at most `limit` (default: the per-member cap), checked against its CRC."""
        member = self.members.get(name)
        if member is None:
            raise KeyError(name)
        cap = min(limit or self.limits.max_member_bytes, self.limits.max_member_bytes)
        if member.size > cap:
            raise UnsafeFile(f"zip member {quoted(name)} is {member.size:,} bytes, over the limit of {cap:,} "
                             "for this kind of member")
        data = self._inflate(member)
        if len(data) != member.size:
            raise BadFile(f"zip member {quoted(name)} is {len(data):,} bytes, not the {member.size:,} its "
                          "directory entry declares (corrupt)")
        if zlib.crc32(data) != member.crc:
            raise BadFile(f"zip member {quoted(name)} fails its CRC check (corrupt)")
        self._read_total += len(data)
        if self._read_total > self.limits.max_total_bytes:
            raise UnsafeFile(f"reading the zip produced over {self.limits.max_total_bytes:,} bytes in all "
                             "(a zip bomb?)")
        return data

    def _inflate(self, member: Member) -> bytes:
        self._file.seek(member.data_start)
        if member.method == zipfile.ZIP_STORED:
            return self._file.read(min(member.compressed, member.size + 1))
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        out = bytearray()
        remaining = member.compressed
        pending = b""
        while remaining > 0 or pending:
            if not pending:
                pending = self._file.read(min(CHUNK, remaining))
                if not pending:
                    break
                remaining -= len(pending)
            try:
                # Ask for at most one byte past the declared size: enough to know the member lies.
                out += inflater.decompress(pending, member.size + 1 - len(out))
            except zlib.error as error:
                raise BadFile(f"zip member {quoted(member.name)} is not valid deflate data ({error})") from error
            pending = inflater.unconsumed_tail
            if len(out) > member.size:
                raise UnsafeFile(f"zip member {quoted(member.name)} inflates past the {member.size:,} bytes it "
                                 "declares (a zip bomb?)")
            if inflater.eof:
                break
        return bytes(out)


def unsafe_reason(name: str) -> str | None:
    """Why a member name could escape or confuse a folder if it were ever extracted, or None."""
    if not name or "\x00" in name:
        return "it is empty or contains a NUL"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "it is an absolute path"
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        return "it climbs out of the archive with '..'"
    return None
