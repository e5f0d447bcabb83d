"""The printable page of a subject's record (right of access), in Bahasa Indonesia: what an agency hands
to the data subject. Every value is escaped; nothing is fetched from elsewhere (no CDN, no script)."""

from __future__ import annotations

from html import escape

from rujukan.referral.rights import SubjectRecord
from rujukan.referral.views import ReferralView

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem;color:#111}"
    "table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}td,th{border:1px solid #bbb;padding:.3rem .5rem;"
    "text-align:left;vertical-align:top}th{background:#f1f5f9}h2{margin-top:2rem}@media print{body{margin:0}}"
)
IDENTITY = (
    ("full_name", "Nama lengkap"),
    ("nik", "NIK"),
    ("ihs_number", "Nomor IHS (SATUSEHAT)"),
    ("birth_date", "Tanggal lahir"),
    ("phone", "Telepon"),
    ("address", "Alamat"),
    ("sex", "Jenis kelamin"),
    ("category", "Kategori"),
    ("age_band", "Kelompok umur"),
    ("region_code", "Kode wilayah"),
)


def record_page(record: SubjectRecord) -> str:
    parts = [
        "<!doctype html><html lang='id'><head><meta charset='utf-8'>",
        f"<title>Rekam data subjek {escape(record.subject_id)}</title><style>{STYLE}</style></head><body>",
        "<h1>Rekam data subjek</h1>",
        f"<p>Pseudonim: <strong>{escape(record.subject_id)}</strong>. ",
        "Dokumen ini memuat semua data tentang subjek yang disimpan instansi Anda di Rujukan, "
        "sesuai hak akses subjek data (UU No. 27 Tahun 2022 tentang Pelindungan Data Pribadi).</p>",
    ]
    if record.erased:
        parts.append("<p><strong>Data identitas subjek telah dihapus.</strong></p>")
    if record.restricted:
        parts.append("<p><strong>Pemrosesan data subjek sedang dibatasi.</strong></p>")
    if record.referrals:
        parts += _identity(record.referrals[0])
    for referral in record.referrals:
        parts += _referral(referral)
    parts.append("</body></html>")
    return "".join(parts)


def _identity(referral: ReferralView) -> list[str]:
    subject = referral.subject.model_dump()
    rows = "".join(f"<tr><th>{label}</th><td>{_text(subject.get(name))}</td></tr>" for name, label in IDENTITY)
    return ["<h2>Identitas</h2><table>", rows, "</table>"]


def _referral(referral: ReferralView) -> list[str]:
    head = (
        f"<h2>Rujukan {escape(referral.id)}</h2><table>"
        f"<tr><th>Dari</th><td>{escape(referral.from_agency)}</td></tr>"
        f"<tr><th>Kepada</th><td>{escape(referral.to_agency)}</td></tr>"
        f"<tr><th>Layanan</th><td>{escape(referral.service_type)}</td></tr>"
        f"<tr><th>Status</th><td>{escape(referral.status)}</td></tr>"
        f"<tr><th>Dasar hukum</th><td>{escape(referral.legal_basis)}</td></tr>"
        f"<tr><th>Alasan</th><td>{_text(referral.reason)}</td></tr></table>"
    )
    rows = "".join(
        f"<tr><td>{entry.seq}</td><td>{escape(entry.occurred_at.isoformat())}</td><td>{escape(entry.event_type)}</td>"
        f"<td>{escape(entry.actor_agency)}</td><td>{_text(entry.note)}</td></tr>"
        for entry in referral.history
    )
    return [
        head,
        "<table><tr><th>#</th><th>Waktu</th><th>Peristiwa</th><th>Oleh</th><th>Catatan</th></tr>",
        rows,
        "</table>",
    ]


def _text(value: object) -> str:
    return "&mdash;" if value is None else escape(str(value))
