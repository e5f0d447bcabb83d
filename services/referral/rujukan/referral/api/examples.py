"""OpenAPI examples. Every name and number here is fictional."""

from __future__ import annotations

from typing import Any

CREATE_EXAMPLES: dict[str, dict[str, Any]] = {
    "pre_release": {
        "summary": "A Lapas refers an inmate nearing release to Bapas",
        "value": {
            "to_agency": "BAPAS-JAKTIM",
            "service_type": "supervision",
            "urgency": "urgent",
            "reason": "Pembebasan bersyarat dalam 30 hari; perlu pembimbingan kemasyarakatan.",
            "legal_basis": "legal_obligation",
            "subject": {
                "full_name": "Budi Contoh",
                "nik": "3175010101900001",
                "birth_date": "1990-01-01",
                "sex": "male",
                "category": "inmate_pre_release",
                "region_code": "31.75",
            },
        },
    },
    "child_victim": {
        "summary": "Police refer a child victim, with a guardian's consent",
        "value": {
            "to_agency": "UPTD-PPA-DKI",
            "service_type": "psychosocial_support",
            "urgency": "emergency",
            "reason": "Korban kekerasan, butuh pendampingan psikologis segera.",
            "legal_basis": "consent",
            "consent": {"given_by": "guardian", "recorded_at": "2026-11-20T09:15:00+07:00"},
            "subject": {
                "full_name": "Anak Contoh",
                "birth_date": "2014-05-17",
                "sex": "female",
                "category": "violence_victim_child",
                "region_code": "31.71",
                "phone": "+62 812 0000 0000",
            },
        },
    },
}

ACTION_EXAMPLES: dict[str, dict[str, Any]] = {
    "acknowledge": {"summary": "acknowledge, accept, start: no fields needed", "value": {}},
    "reject": {"summary": "reject, hold, fail, cancel: a reason code", "value": {"reason_code": "capacity_full"}},
    "complete": {"summary": "complete: an outcome", "value": {"outcome": "goals_met", "note": "Selesai."}},
    "forward": {
        "summary": "forward: the next agency and a reason code",
        "value": {"to_agency": "KEMENSOS-SENTRA-HANDAYANI", "reason_code": "referred_elsewhere"},
    },
    "note": {"summary": "note: free text, sealed", "value": {"note": "Subjek sudah dihubungi."}},
}
