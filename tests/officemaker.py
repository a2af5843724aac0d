"""Word (.docx) and OpenDocument (.odt) files made in code for the handler tests, and an encrypted Office file."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from html import escape

from tests.docmaker import zip_bytes

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/word/document.xml"
 ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>
</Types>"""
PACKAGE_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
 Target="word/document.xml"/>
<Relationship Id="rId2" Target="docProps/core.xml"
 Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties"/>
</Relationships>"""
# As German Word writes them: the style ids are translated, the names are not.
STYLES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:styles xmlns:w="{W}">
<w:style w:type="paragraph" w:styleId="Standard"><w:name w:val="Normal"/></w:style>
<w:style w:type="paragraph" w:styleId="Titel"><w:name w:val="Title"/></w:style>
<w:style w:type="paragraph" w:styleId="berschrift1"><w:name w:val="heading 1"/><w:pPr><w:outlineLvl w:val="0"/></w:pPr>
</w:style>
<w:style w:type="paragraph" w:styleId="berschrift2"><w:name w:val="heading 2"/></w:style>
<w:style w:type="paragraph" w:styleId="Kapitel"><w:name w:val="Chapter"/><w:basedOn w:val="berschrift1"/></w:style>
</w:styles>"""


def core_xml(title: str, creator: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"
 xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<dc:title>{escape(title)}</dc:title><dc:creator>{escape(creator)}</dc:creator>
<cp:lastModifiedBy>Bo Editor</cp:lastModifiedBy><dc:language>de-DE</dc:language>
<dcterms:created xsi:type="dcterms:W3CDTF">2024-05-01T10:00:00Z</dcterms:created>
</cp:coreProperties>"""


def w_p(text: str = "", style: str = "", inner: str = "") -> str:
    """A paragraph: one run of `text` (tabs become w:tab) after any raw `inner` runs, in a style if given."""
    props = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
    runs = "<w:tab/>".join(f'<w:t xml:space="preserve">{escape(part)}</w:t>' for part in text.split("\t"))
    return f"<w:p>{props}{inner}<w:r>{runs}</w:r></w:p>" if text else f"<w:p>{props}{inner}</w:p>"


def w_table(rows: Sequence[Sequence[str]]) -> str:
    cells = "".join("<w:tr>" + "".join(f"<w:tc>{w_p(cell)}</w:tc>" for cell in row) + "</w:tr>" for row in rows)
    return f"<w:tbl>{cells}</w:tbl>"


def w_textbox(text: str) -> str:
    """A run holding a text box as Word writes it: the DrawingML choice, and a VML fallback repeating it."""
    box = f"<w:txbxContent>{w_p(text)}</w:txbxContent>"
    return ('<w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><wps:txbx>' + box +
            '</wps:txbx></w:drawing></mc:Choice><mc:Fallback><w:pict><v:textbox>' + box +
            "</v:textbox></w:pict></mc:Fallback></mc:AlternateContent></w:r>")


def document_xml(body: str) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document xmlns:w="{W}" '
            'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
            'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" '
            f'xmlns:v="urn:schemas-microsoft-com:vml"><w:body>{body}<w:sectPr/></w:body></w:document>')


def docx_bytes(body: str, title: str = "A Test Document", creator: str = "Ada Author",
               replace: dict[str, bytes | str] | None = None) -> bytes:
    """A .docx of this w:body content (build it with w_p, w_table, w_textbox); `replace` swaps members."""
    members: dict[str, bytes | str] = {
        "[Content_Types].xml": CONTENT_TYPES, "_rels/.rels": PACKAGE_RELS, "word/document.xml": document_xml(body),
        "word/styles.xml": STYLES, "docProps/core.xml": core_xml(title, creator),
        "docProps/app.xml": "<Properties><Application>Microsoft Office Word</Application><Pages>2</Pages>"
                            "</Properties>"}
    members.update(replace or {})
    return zip_bytes(members, mimetype=None)


ODF_NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
          'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
          'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
          'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
          'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" xmlns:dc="http://purl.org/dc/elements/1.1/" '
          'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"')
ODT_TYPE = "application/vnd.oasis.opendocument.text"


def odf_manifest(encrypted: bool = False) -> str:
    secret = ('<manifest:encryption-data manifest:checksum-type="SHA1/1K" manifest:checksum="x"/>'
              if encrypted else "")
    return (f'<?xml version="1.0" encoding="UTF-8"?><manifest:manifest {ODF_NS} manifest:version="1.2">'
            f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{ODT_TYPE}"/>'
            f'<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">{secret}'
            "</manifest:file-entry></manifest:manifest>")


def odt_bytes(body: str, title: str = "A Test Text", mimetype: str = ODT_TYPE, encrypted: bool = False,
              replace: dict[str, bytes | str] | None = None) -> bytes:
    """An .odt of this office:text content (text:p, text:h, table:table... written by the test)."""
    members: dict[str, bytes | str] = {
        "content.xml": f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODF_NS} '
                       f'office:version="1.2"><office:body><office:text>{body}</office:text></office:body>'
                       "</office:document-content>",
        "meta.xml": f'<?xml version="1.0" encoding="UTF-8"?><office:document-meta {ODF_NS}><office:meta>'
                    f"<dc:title>{escape(title)}</dc:title><meta:initial-creator>Ada Author</meta:initial-creator>"
                    "<dc:creator>Bo Editor</dc:creator><meta:keyword>alpha</meta:keyword><meta:keyword>beta"
                    "</meta:keyword><meta:generator>LibreOffice/7.6</meta:generator>"
                    '<meta:document-statistic meta:page-count="3" meta:word-count="99"/></office:meta>'
                    "</office:document-meta>",
        "META-INF/manifest.xml": odf_manifest(encrypted)}
    members.update(replace or {})
    return zip_bytes(members, mimetype=mimetype)


def encrypted_office_bytes() -> bytes:
    """What Office writes for a password-protected .docx: a Compound File (OLE) holding EncryptionInfo and
    EncryptedPackage streams, not a zip. The streams hold filler: only the container's layout matters here."""
    sector = 512
    names = ["Root Entry", "EncryptionInfo", "EncryptedPackage"]
    # Sectors: 0 the FAT, 1 the directory, 2-9 EncryptionInfo (4 KiB), 10-17 EncryptedPackage (4 KiB).
    fat = [0xFFFFFFFD, 0xFFFFFFFE] + [n + 1 for n in range(2, 9)] + [0xFFFFFFFE]
    fat += [n + 1 for n in range(10, 17)] + [0xFFFFFFFE]
    fat += [0xFFFFFFFF] * (sector // 4 - len(fat))
    header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(16) + struct.pack("<5H", 0x3E, 3, 0xFFFE, 9, 6)
              + bytes(6) + struct.pack("<9I", 0, 1, 1, 0, 4096, 0xFFFFFFFE, 0, 0xFFFFFFFE, 0)
              + struct.pack("<109I", 0, *[0xFFFFFFFF] * 108))
    entries = b""
    for index, (name, kind, start, size) in enumerate([(names[0], 5, 0xFFFFFFFE, 0), (names[1], 2, 2, 4096),
                                                        (names[2], 2, 10, 4096)]):
        encoded = (name + "\0").encode("utf-16-le")
        left, right, child = (0xFFFFFFFF, 0xFFFFFFFF, 1) if index == 0 else \
            ((0xFFFFFFFF, 2, 0xFFFFFFFF) if index == 1 else (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF))
        entries += (encoded.ljust(64, b"\0") + struct.pack("<HBB3I", len(encoded), kind, 1, left, right, child)
                    + bytes(36) + struct.pack("<IQ", start, size))
    entries = entries.ljust(sector, b"\0")
    return header + struct.pack(f"<{sector // 4}I", *fat) + entries + b"\x11" * 4096 + b"\x22" * 4096
