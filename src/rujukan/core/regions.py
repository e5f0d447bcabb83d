"""Region codes (BPS/Kemendagri kode wilayah): province ``31``, kabupaten/kota ``31.75``, kecamatan
``31.75.01``, desa/kelurahan ``31.75.01.1001``; and how much of one to keep where."""

from __future__ import annotations

PROVINCE, KABUPATEN_KOTA, KECAMATAN = 1, 2, 3


def region_at(code: str, level: int) -> str:
    """``code`` cut to ``level`` (a code already at that level or above stays as it is)."""
    return ".".join(code.split(".")[:level])
