"""Hostile workbooks, built byte by byte in memory (no binaries in the repository).

* :func:`dimension_bomb`: about 1.7 KB; one cell at A1, one at XFD1048576, and a ``<dimension>``
  saying so: calamine would reserve 1,048,576 × 16,384 cells (512 GiB) and abort.
* :func:`decompression_bomb`: a few MB of zip whose sheet unpacks to gigabytes of blanks.
* :func:`huge_shared_string`: about 1 MB of zip holding one shared string of a gigabyte.
* :func:`lying_dimension`: the dimension bomb with a ``<dimension ref="A1"/>`` that lies: it
  passes every cheap check, and only the child's memory limit stops it.

The big members are deflate streams made of one compressed megabyte repeated: after a full flush
the compressor starts afresh, so compressing the same block again gives the same bytes, and a
gigabyte costs a thousand copies of a kilobyte (and a CRC pass) instead of a gigabyte's worth of
compression.
"""
from __future__ import annotations

import struct
import zlib

MIB = 1 << 20
GIB = 1 << 30
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"


class Member:
    """One zip member: its deflate stream, CRC and unpacked size."""

    def __init__(self, name: str, stream: bytes, crc: int, size: int):
        self.name, self.stream, self.crc, self.size = name, stream, crc, size

    @classmethod
    def of(cls, name: str, data: bytes) -> Member:
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        return cls(name, packer.compress(data) + packer.flush(), zlib.crc32(data), len(data))

    @classmethod
    def repeated(cls, name: str, head: bytes, block: bytes, times: int,
                 tail: bytes) -> Member:
        """``head + block * times + tail``, deflated without ever being built."""
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        stream = packer.compress(head) + packer.flush(zlib.Z_FULL_FLUSH)
        once = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
        again = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
        assert once == again  # what makes the repetition valid
        stream += once * times + packer.compress(tail) + packer.flush()
        crc = zlib.crc32(head)
        for _ in range(times):
            crc = zlib.crc32(block, crc)
        crc = zlib.crc32(tail, crc)
        return cls(name, stream, crc, len(head) + len(block) * times + len(tail))


def zip_of(members: list[Member]) -> bytes:
    """A plain (not zip64) zip archive of deflated ``members``."""
    body, directory = bytearray(), bytearray()
    for member in members:
        name = member.name.encode()
        offset = len(body)
        fields = (20, 0, 8, 0, 33, member.crc, len(member.stream), member.size, len(name), 0)
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields) + name + member.stream
        directory += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, *fields, 0, 0, 0, 0,
                                 offset) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members),
                      len(directory), len(body), 0)
    return bytes(body + directory + end)


def _package(sheet: Member, shared_strings: Member | None = None) -> bytes:
    types = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats'
             '.org/package/2006/content-types"><Default Extension="rels" ContentType="application/'
             'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
             '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
             'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName='
             '"/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
             'officedocument.spreadsheetml.worksheet+xml"/>'
             + ('<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.'
                'openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
                if shared_strings else "") + "</Types>")
    rels = (f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG_REL}">'
            f'<Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>")
    workbook = (f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" '
                f'xmlns:r="{REL}"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/>'
                "</sheets></workbook>")
    workbook_rels = (f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG_REL}">'
                     f'<Relationship Id="rId1" Type="{REL}/worksheet" '
                     'Target="worksheets/sheet1.xml"/>'
                     + (f'<Relationship Id="rId2" Type="{REL}/sharedStrings" '
                        'Target="sharedStrings.xml"/>' if shared_strings else "")
                     + "</Relationships>")
    members = [Member.of("[Content_Types].xml", types.encode()),
               Member.of("_rels/.rels", rels.encode()),
               Member.of("xl/workbook.xml", workbook.encode()),
               Member.of("xl/_rels/workbook.xml.rels", workbook_rels.encode()), sheet]
    if shared_strings:
        members.append(shared_strings)
    return zip_of(members)


def _sheet_xml(dimension: str | None, rows: str) -> bytes:
    declared = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN}">{declared}'
            f"<sheetData>{rows}</sheetData></worksheet>").encode()


CORNERS = ('<row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c></row>'
           '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>')


def dimension_bomb() -> bytes:
    return _package(Member.of("xl/worksheets/sheet1.xml",
                              _sheet_xml("A1:XFD1048576", CORNERS)))


def lying_dimension() -> bytes:
    return _package(Member.of("xl/worksheets/sheet1.xml", _sheet_xml("A1", CORNERS)))


def decompression_bomb(gib: int = 3) -> bytes:
    head, tail = _sheet_xml("A1:A1", "\x00").split(b"\x00")
    head += b'<row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c></row>'
    return _package(Member.repeated("xl/worksheets/sheet1.xml", head, b" " * MIB,
                                    gib * 1024, tail))


def huge_shared_string(gib: int = 1) -> bytes:
    sheet = Member.of("xl/worksheets/sheet1.xml", _sheet_xml(
        "A1:A2", '<row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c></row>'
                 '<row r="2"><c r="A2" t="s"><v>0</v></c></row>'))
    strings = Member.repeated("xl/sharedStrings.xml",
                              f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}" '
                              'count="1" uniqueCount="1"><si><t>'.encode(),
                              b"A" * MIB, gib * 1024, b"</t></si></sst>")
    return _package(sheet, strings)
