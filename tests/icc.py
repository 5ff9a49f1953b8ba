"""Colour profiles for tests: a minimal ICC matrix/curve profile in the layout cameras embed."""

from __future__ import annotations

import struct

import numpy as np

ADOBE_RGB_D50 = np.array(
    [[0.6097, 0.2053, 0.1492], [0.3111, 0.6257, 0.0632], [0.0195, 0.0609, 0.7446]]
)
"""Adobe RGB's primaries as XYZ columns, adapted to the profile connection space's D50."""
SRGB_D50 = np.array([[0.4361, 0.3851, 0.1431], [0.2225, 0.7169, 0.0606], [0.0139, 0.0971, 0.7141]])
"""sRGB's primaries, the same way (what lcms's built-in sRGB profile holds)."""
GAMMA = 563 / 256  # 2.2 as an ICC curve stores it (u8.8)


def matrix_profile(colorants: np.ndarray) -> bytes:
    """A minimal ICC v2 RGB display profile: `colorants` (XYZ columns) and a gamma curve."""

    def xyz(values) -> bytes:
        return b"XYZ \0\0\0\0" + b"".join(struct.pack(">i", round(v * 65536)) for v in values)

    def text(tag: bytes, value: str) -> bytes:
        if tag == b"desc":
            body = value.encode() + b"\0"
            return b"desc\0\0\0\0" + struct.pack(">I", len(body)) + body + bytes(79)
        return b"text\0\0\0\0" + value.encode() + b"\0"

    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(GAMMA * 256)) + b"\0\0"
    tags = [(b"desc", text(b"desc", "test")), (b"cprt", text(b"cprt", "none"))]
    tags += [(b"wtpt", xyz([0.9642, 1.0, 0.8249]))]
    tags += [(name, xyz(colorants[:, k])) for k, name in enumerate((b"rXYZ", b"gXYZ", b"bXYZ"))]
    tags += [(name, curve) for name in (b"rTRC", b"gTRC", b"bTRC")]
    offset, table, data = 128 + 4 + 12 * len(tags), b"", b""
    for name, body in tags:
        body += bytes(-len(body) % 4)
        table += name + struct.pack(">II", offset + len(data), len(body))
        data += body
    header = struct.pack(">I4sI", offset + len(data), b"none", 0x02100000)
    header += b"mntrRGB XYZ " + bytes(12) + b"acsp" + bytes(24) + bytes(12)
    header += b"".join(struct.pack(">i", round(v * 65536)) for v in (0.9642, 1.0, 0.8249))
    header += bytes(128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + data
