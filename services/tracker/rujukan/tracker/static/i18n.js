// Bahasa Indonesia by default, English on request; the choice is kept in localStorage.
const I18N = (() => {
  const texts = {
    id: {
      "lang.switch": "English", "login.intro": "Dasbor koordinator rujukan antarlembaga.",
      "login.failed": "Kredensial tidak dikenal atau sudah dicabut.", "login.label": "Kredensial koordinator",
      "login.submit": "Masuk", "title": "Dasbor Rujukan", "logout": "Keluar",
      "live.on": "Langsung", "live.off": "Terputus — menyambung ulang…",
      "waiting": "Menunggu tindakan", "waiting.hint": "Yang terlambat di atas. Klik baris untuk melihat linimasa kasus.",
      "filter.agency": "Lembaga", "filter.service": "Layanan", "filter.region": "Kode wilayah",
      "filter.status": "Status", "filter.overdue": "Hanya terlambat", "filter.all": "Semua", "filter.apply": "Terapkan",
      "col.referral": "Rujukan", "col.from": "Dari", "col.to": "Kepada", "col.service": "Layanan",
      "col.urgency": "Urgensi", "col.status": "Status", "col.waiting": "Menunggu", "col.due": "Batas waktu",
      "col.region": "Wilayah", "overdue": "TERLAMBAT", "none": "Tidak ada rujukan yang cocok.",
      "total": "rujukan", "case": "Linimasa kasus", "case.hint": "Pilih rujukan di tabel.",
      "funnel": "Corong per pasangan lembaga", "funnel.hint": "Jumlah rujukan per status",
      "pathways": "Jalur reintegrasi",
      "pathways.hint": "Per templat, semua wilayah: jalur selesai dari yang dimulai, hari dari tanggal acuan ke layanan pertama, hasil tindak lanjut",
      "pathways.none": "Belum ada jalur yang dimulai.", "pathways.started": "dimulai",
      "pathways.completed": "selesai", "pathways.days": "median hari ke layanan pertama", "col.template": "templat",
      "pathways.followups": "tindak lanjut", "pathways.months": "bln",
      "indicator": "Indikator 354: cakupan layanan reintegrasi sosial perempuan dan anak korban kekerasan",
      "indicator.period": "Periode", "csv": "Unduh CSV", "subject": "Subjek (pseudonim)",
      "who.responder": "lembaga penerima", "who.requester": "lembaga perujuk", "who.nobody": "selesai",
      "parallel": "rujukan paralel",
      "pathway.open": "Lihat jalur orang ini di semua kasus", "pathway.cases": "kasus",
      "hop.referral": "rujukan", "hop.continues": "lanjutan", "hop.forward": "diteruskan / rujukan ulang",
      "unit.min": "menit", "unit.hour": "jam", "unit.day": "hari",
      "parallel.hint": "Orang yang sama punya rujukan aktif lain (lembaga atau layanan lain)",
      "directory": "Direktori layanan: kapasitas per wilayah",
      "directory.hint": "Tempat tersedia / kapasitas per provinsi dan jenis layanan.",
      "directory.ok": "tersedia", "directory.low": "hampir penuh (< 25%)", "directory.full": "penuh",
      "directory.unknown": "tidak dilaporkan", "directory.none": "Direktori masih kosong.",
      "directory.national": "nasional", "directory.services": "layanan", "directory.waitlist": "daftar tunggu",
    },
    en: {
      "lang.switch": "Bahasa Indonesia", "login.intro": "Coordinator dashboard for inter-agency referrals.",
      "login.failed": "Unknown or revoked credential.", "login.label": "Coordinator credential",
      "login.submit": "Sign in", "title": "Referral dashboard", "logout": "Sign out",
      "live.on": "Live", "live.off": "Disconnected — reconnecting…",
      "waiting": "Waiting for action", "waiting.hint": "Overdue first. Click a row to see the case timeline.",
      "filter.agency": "Agency", "filter.service": "Service", "filter.region": "Region code",
      "filter.status": "Status", "filter.overdue": "Overdue only", "filter.all": "All", "filter.apply": "Apply",
      "col.referral": "Referral", "col.from": "From", "col.to": "To", "col.service": "Service",
      "col.urgency": "Urgency", "col.status": "Status", "col.waiting": "Waiting on", "col.due": "Due",
      "col.region": "Region", "overdue": "OVERDUE", "none": "No matching referrals.",
      "total": "referrals", "case": "Case timeline", "case.hint": "Pick a referral in the table.",
      "funnel": "Funnel per agency pair", "funnel.hint": "Referrals per status",
      "pathways": "Reintegration pathways",
      "pathways.hint": "Per template, all regions: pathways completed of those started, days from the anchor date to the first service, follow-up outcomes",
      "pathways.none": "No pathway started yet.", "pathways.started": "started",
      "pathways.completed": "completed", "pathways.days": "median days to first service", "col.template": "template",
      "pathways.followups": "follow-ups", "pathways.months": "mo",
      "indicator": "Indicator 354: social reintegration service coverage for women and child victims of violence",
      "indicator.period": "Period", "csv": "Download CSV", "subject": "Subject (pseudonym)",
      "who.responder": "receiving agency", "who.requester": "referring agency", "who.nobody": "closed",
      "parallel": "parallel referral",
      "pathway.open": "See this person's pathway across cases", "pathway.cases": "cases",
      "hop.referral": "referral", "hop.continues": "continuation", "hop.forward": "forward / re-referral",
      "unit.min": "min", "unit.hour": "h", "unit.day": "days",
      "parallel.hint": "The same person has other active referrals (another agency or service)",
      "directory": "Service directory: capacity per region",
      "directory.hint": "Places available / capacity per province and service type.",
      "directory.ok": "available", "directory.low": "nearly full (< 25%)", "directory.full": "full",
      "directory.unknown": "not reported", "directory.none": "The directory is empty.",
      "directory.national": "nationwide", "directory.services": "services", "directory.waitlist": "waitlist",
    },
  };
  const statuses = {
    id: {planned: "direncanakan", requested: "diajukan", received: "diterima", accepted: "disetujui", rejected: "ditolak",
         in_progress: "berjalan", on_hold: "ditunda", completed: "selesai", failed: "gagal",
         cancelled: "dibatalkan", forwarded: "diteruskan"},
    en: {in_progress: "in progress", on_hold: "on hold"},
  };
  let lang = localStorage.getItem("rujukan.lang") || "id";
  return {
    get lang() { return lang; },
    t(key) { return texts[lang][key] || key; },
    status(s) { return (statuses[lang] && statuses[lang][s]) || s; },
    apply() {
      document.documentElement.lang = lang;
      document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = this.t(el.dataset.i18n); });
    },
    toggle() {
      lang = lang === "id" ? "en" : "id";
      localStorage.setItem("rujukan.lang", lang);
      this.apply();
      document.dispatchEvent(new Event("langchange"));
    },
  };
})();
