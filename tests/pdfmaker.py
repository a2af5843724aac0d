"""PDFs made in code for the handler tests: good ones, encrypted ones, and hostile ones (huge, slow, broken)."""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence

LETTER = (612, 792)
FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def build(objects: Sequence[bytes], info: int | None = None) -> bytes:
    """A PDF of these objects (object 1 is the catalog), with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    info_ref = b" /Info %d 0 R" % info if info else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, info_ref, xref)
    return bytes(out)


def stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d%s >>\nstream\n%s\nendstream" % (len(data), extra, data)


def pdf_string(text: str) -> bytes:
    return b"(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("latin-1") + b")"


def page(contents: int, resources: bytes = b"<< /Font << /F1 3 0 R >> >>", size: tuple[float, float] = LETTER,
         extra: bytes = b"") -> bytes:
    return (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %g %g] /Resources %s /Contents %d 0 R%s >>"
            % (size[0], size[1], resources, contents, extra))


def pdf_bytes(pages: Sequence[str], title: str = "A Test PDF", author: str = "Pat Writer",
              size: tuple[float, float] = LETTER, kids: Sequence[int] | None = None) -> bytes:
    """A small valid PDF: Helvetica text on each page (a line per "\n"), an /Info dictionary, a correct xref.

    kids: the page tree's /Kids as object numbers, to point it at objects that are not pages.
    """
    numbers = [4 + 2 * i for i in range(len(pages))]
    listed = b" ".join(b"%d 0 R" % n for n in (numbers if kids is None else kids))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [%s] /Count %d >>" % (listed, len(numbers if kids is None else kids)), FONT]
    for number, text in zip(numbers, pages, strict=True):
        lines = b" 0 -22 Td ".join(pdf_string(line) + b" Tj" for line in text.split("\n"))
        objects += [page(number + 1, size=size), stream(b"BT /F1 18 Tf 72 720 Td %s ET" % lines)]
    objects.append(b"<< /Title %s /Author %s /Producer (docmaker) /CreationDate (D:20240501123000+02'00') >>"
                   % (pdf_string(title), pdf_string(author)))
    return build(objects, info=len(objects))


def encrypted_pdf_bytes(pages: Sequence[str], user_password: str, owner_password: str = "the owner") -> bytes:
    """pdf_bytes, encrypted (RC4-128, the standard security handler) by pypdf; '' opens without a password."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes(pages))))
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def huge_page_pdf_bytes(side: float = 14_400, user_unit: float = 75) -> bytes:
    """One page of 14,400 x 14,400 units of 75/72 inch: 1.08 million px a side at 72 dpi, 4.7 TB as RGBA."""
    return build([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>", FONT,
                  page(5, size=(side, side), extra=b" /UserUnit %g" % user_unit),
                  stream(b"BT /F1 600 Tf 1000 7000 Td (A very large page) Tj ET")])


def huge_image_pdf_bytes(side: int = 40_000) -> bytes:
    """A letter page showing one grey image of side x side pixels (1.6 GB decoded) in 1.6 MB of deflate."""
    compressor = zlib.compressobj(9)
    row = bytes(side)
    pixels = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    image = stream(pixels, b" /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
                           b"/BitsPerComponent 8 /Filter /FlateDecode" % (side, side))
    return build([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>", image,
                  page(5, resources=b"<< /XObject << /Im1 3 0 R >> >>"), stream(b"q 612 0 0 792 0 0 cm /Im1 Do Q")])


def many_pages_pdf_bytes(count: int) -> bytes:
    """A PDF of `count` pages that are one page object listed again and again: a few bytes a page."""
    kids = b" ".join([b"4 0 R"] * count)
    return build([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count),
                  FONT, page(5), stream(b"BT /F1 18 Tf 72 720 Td (same page) Tj ET")])


def slow_pdf_bytes(operators_per_page: int = 50_000, pages: int = 200) -> bytes:
    """A tiny PDF that takes seconds to read: every page shares one content stream of many text operators.

    Nothing in it is over a limit, so nothing refuses it: a stand-in for a parser that loops, which only the
    per-job time limit can end (the handler cannot check for cancellation inside PDFium).
    """
    ops = b"BT /F1 12 Tf 72 720 Td " + b"(ab) Tj 1 0 Td " * operators_per_page + b"ET"
    kids = b" ".join(b"%d 0 R" % (5 + i) for i in range(pages))
    return build([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
                  FONT, stream(zlib.compress(ops, 9), b" /Filter /FlateDecode"), *[page(4)] * pages])
