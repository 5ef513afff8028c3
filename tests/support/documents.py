"""Real files of each supported format, made in memory for the document tests."""

import io


def pdf_bytes(lines: list[str]) -> bytes:
    """A minimal, valid one-page PDF whose text is `lines` (Helvetica, one line each), xref offsets exact."""
    escaped = [line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for line in lines]
    stream = "BT /F1 11 Tf 50 760 Td 14 TL " + " ".join(f"({line}) '" for line in escaped) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = io.BytesIO(), []
    out.write(b"%PDF-1.4\n")
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def docx_bytes(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


# The retrieval corpus: the answer (the warehouse door code) is in exactly one passage of one file.
HANDBOOK = [
    "Welcome to the Northwind staff handbook. Working hours are nine to five on weekdays.",
    "Holidays must be requested two weeks in advance through the people team.",
    "Expense claims are paid at the end of each month after a manager approves them.",
]
DOOR_PASSAGE = "The loading dock of the Leeds warehouse opens with door code 4417; report a lost code to security."
SECURITY = [
    "Security policy: badges are personal and must be worn visibly at all times.",
    DOOR_PASSAGE,
    "Visitors sign in at reception and are escorted by their host.",
]
