#!/usr/bin/env python3
"""Writes the documents the virtual users send (data/files/document.*): a one-page PDF with a
line of text, a CSV, a text file and a JSON file. Standard library only:

    tools/make-documents.py data/files

The PDF's cross-reference table is computed from the objects' offsets, so readers open it
without repairing it.
"""

import json
import os
import sys

TEXT = "stress: a document a virtual user sent"


def pdf():
    stream = f"BT /F1 18 Tf 72 720 Td ({TEXT}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


FILES = {
    "document.pdf": pdf,
    "document.csv": lambda: b"day,requests,failures\n2026-06-11,120000,12\n2026-06-12,98000,3\n",
    "document.txt": lambda: (TEXT + "\n").encode(),
    "document.json": lambda: (json.dumps({"trace": "stress", "spans": 3}) + "\n").encode(),
}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make-documents.py <folder>")
    for name, make in FILES.items():
        path = os.path.join(sys.argv[1], name)
        with open(path, "wb") as f:
            f.write(make())
        print(path, os.path.getsize(path))


if __name__ == "__main__":
    main()
