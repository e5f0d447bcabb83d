// The coordinator dashboard: reads the tracker API (the session cookie authenticates) and follows
// /v1/stream to refresh without reloading. No identifying data exists on this side: subjects are pseudonyms.
"use strict";
const SERVICES = ["psychosocial_support", "counselling", "mental_health", "health_care", "legal_aid", "safe_shelter",
  "skills_training", "employment", "economic_empowerment", "education", "family_reintegration",
  "civil_documentation", "social_assistance", "religious_guidance", "deradicalisation_programme", "supervision"];
const STATUSES = ["planned", "requested", "received", "accepted", "in_progress", "on_hold", "completed", "rejected", "failed",
  "cancelled", "forwarded"];
const COLORS = {planned: "#94a3b8", requested: "#d97706", received: "#f59e0b", accepted: "#2563eb", in_progress: "#3b82f6",
  on_hold: "#a855f7", completed: "#16a34a", rejected: "#dc2626", failed: "#991b1b", cancelled: "#6b7280",
  forwarded: "#0891b2"};
const WAITING_ON = {requested: "responder", received: "responder", accepted: "responder", in_progress: "responder",
  on_hold: "responder"};
let selectedCase = null;
let selectedPathway = null;

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(child ?? ""));
  return node;
};
const when = (iso) => iso ? new Date(iso).toLocaleString(I18N.lang === "id" ? "id-ID" : "en-GB",
  {dateStyle: "medium", timeStyle: "short"}) : "";

async function api(path) {
  const response = await fetch(path, {credentials: "same-origin", headers: {Accept: "application/json"}});
  if (response.status === 401) { location.href = "/login"; throw new Error("signed out"); }
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

function query() {
  const form = new FormData(document.getElementById("filters"));
  const params = new URLSearchParams();
  for (const [k, v] of form.entries()) if (v) params.set(k, v);
  params.set("page_size", "100");
  return params;
}

async function loadHandoffs() {
  const params = query();
  const page = await api(`/v1/handoffs?${params}`);
  document.getElementById("total").textContent = page.total;
  params.set("format", "csv");
  document.getElementById("csv").href = `/v1/handoffs?${params}`;
  const body = document.querySelector("#handoffs tbody");
  body.replaceChildren(...page.items.map(row));
  document.getElementById("empty").hidden = page.items.length > 0;
}

function row(h) {
  const waiting = WAITING_ON[h.status];
  const who = waiting ? (waiting === "responder" ? h.to_agency : h.from_agency) : I18N.t("who.nobody");
  const tr = el("tr", {class: h.overdue ? "overdue" : "", "data-referral": h.referral_id,
                       onclick: () => showCase(h.case_id)},
    el("td", {class: "mono", title: h.referral_id}, h.referral_id.slice(0, 8)),
    el("td", {}, h.from_agency), el("td", {}, h.to_agency), el("td", {}, h.service_type),
    el("td", {}, h.urgency),
    el("td", {}, el("span", {class: "badge", style: `background:${COLORS[h.status]}`}, I18N.status(h.status)),
      h.parallel_referrals ? el("span", {class: "badge parallel", title: I18N.t("parallel.hint")},
        `${I18N.t("parallel")} · ${h.parallel_referrals}`) : ""),
    el("td", {}, who),
    el("td", {}, h.overdue ? el("strong", {class: "late"}, `${I18N.t("overdue")} · ${when(h.next_due_at)}`)
                           : when(h.next_due_at)),
    el("td", {}, h.region_code));
  return tr;
}

async function showCase(caseId) {
  selectedCase = caseId;
  selectedPathway = null;
  drawPathway(await api(`/v1/cases/${caseId}`));
}

async function showPathway(subjectId) {
  selectedPathway = subjectId;
  drawPathway(await api(`/v1/pathways/${encodeURIComponent(subjectId)}`), subjectId);
}

function drawPathway(handoffs, subjectId = null) {
  const hint = document.getElementById("case-hint");
  hint.replaceChildren(`${I18N.t("subject")}: ${handoffs[0].subject_id} `);
  if (!subjectId) {
    hint.append(el("button", {type: "button", class: "link", id: "open-pathway",
      onclick: () => showPathway(handoffs[0].subject_id)}, I18N.t("pathway.open")));
  } else {
    hint.append(el("span", {class: "hint"}, ` · ${I18N.t("pathway.cases")}: ${new Set(handoffs.map((h) => h.case_id)).size}`));
  }
  lanes(document.getElementById("lanes"), handoffs);
  const items = [];
  for (const h of handoffs) {
    for (const e of h.history) items.push({...e, referral: h.referral_id, from: h.from_agency, to: h.to_agency});
  }
  items.sort((a, b) => a.occurred_at.localeCompare(b.occurred_at));
  document.getElementById("timeline").replaceChildren(...items.map((e) =>
    el("li", {},
      el("time", {}, when(e.occurred_at)), " ",
      el("strong", {}, e.event_type.replace(/^Referral/, "")), " — ",
      `${e.actor_agency}${e.actor_staff ? ` · ${e.actor_staff}` : ""} (${e.from} → ${e.to})`, " ",
      el("span", {class: "badge", style: `background:${COLORS[e.status_after]}`}, I18N.status(e.status_after)),
      e.reason_code ? el("span", {class: "hint"}, ` ${e.reason_code}`) : "",
      e.outcome ? el("span", {class: "hint"}, ` ${e.outcome}`) : "")));
}

// a case (or a person's pathway) as lanes, one per agency: each hop an arrow from the referring agency's
// lane to the receiving one's at its creation, then a bar in the receiver's lane until it closed (or now)
function duration(ms) {
  const hours = ms / 3600000;
  if (hours < 1) return `${Math.max(1, Math.round(hours * 60))} ${I18N.t("unit.min")}`;
  if (hours < 48) return `${Math.round(hours)} ${I18N.t("unit.hour")}`;
  return `${Math.round(hours / 24)} ${I18N.t("unit.day")}`;
}

// When a hop began: when it was sent (a planned step's day, if it is still planned), else when it was made.
const begins = (h) => Date.parse(h.sent_at || (h.status === "planned" && h.planned_for) || h.created_at);

function lanes(container, handoffs) {
  const ordered = [...handoffs].sort((a, b) => begins(a) - begins(b));
  const agencies = [];
  for (const h of ordered) for (const a of [h.from_agency, h.to_agency]) if (!agencies.includes(a)) agencies.push(a);
  const now = Date.now();
  const start = Math.min(...ordered.map(begins));
  const end = Math.max(now, ...ordered.map((h) => Math.max(begins(h), Date.parse(h.closed_at || h.updated_at))));
  const width = 640, label = 190, laneHeight = 34, top = 8;
  const room = ordered.some((h) => h.status === "planned") ? 170 : 70;  // a planned step's label names its day
  const x = (t) => label + ((t - start) / Math.max(end - start, 1)) * (width - label - room);
  const y = (agency) => top + agencies.indexOf(agency) * laneHeight + laneHeight / 2;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${top * 2 + agencies.length * laneHeight}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("class", "lanes");
  const add = (tag, attrs, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  agencies.forEach((agency) => {
    add("line", {x1: label, x2: width - 10, y1: y(agency), y2: y(agency), class: "lane"});
    add("text", {x: 0, y: y(agency) + 4, class: "lane-label"}, agency);
  });
  ordered.forEach((h, i) => {
    const planned = h.status === "planned";
    const from = x(begins(h));
    const until = planned ? begins(h) : h.closed_at ? Date.parse(h.closed_at) : now;
    const kind = h.continues_referral_id ? "continues" : h.parent_referral_id ? "forward" : "referral";
    add("line", {x1: from, x2: from, y1: y(h.from_agency), y2: y(h.to_agency), class: `hop ${kind}`,
                 "data-referral": h.referral_id});
    const bar = add("rect", {x: from, y: y(h.to_agency) - 7, width: Math.max(x(until) - from, 3), height: 14, rx: 3,
                             fill: COLORS[h.status], class: planned ? "stay planned" : "stay",
                             "data-referral": h.referral_id});
    const tip = document.createElementNS(ns, "title");
    tip.textContent = `${i + 1}. ${h.from_agency} → ${h.to_agency}, ${h.service_type}: ${I18N.status(h.status)}` +
      ` (${I18N.t(`hop.${kind}`)})`;
    bar.append(tip);
    add("text", {x: Math.max(x(until) - from, 3) + from + 4, y: y(h.to_agency) + 4, class: "hop-time"},
        planned ? `${i + 1} · ${I18N.status("planned")} ${h.planned_for.slice(0, 10)}`
          : `${i + 1} · ${duration(until - begins(h))}`);
  });
  container.replaceChildren(svg);
}

function bars(container, rows, {label, segments, max, suffix = "", tail = null}) {
  const width = 640, rowHeight = 26, labelWidth = 300;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${Math.max(rowHeight, rows.length * rowHeight)}`);
  svg.setAttribute("role", "img");
  rows.forEach((r, i) => {
    const y = i * rowHeight;
    const text = document.createElementNS(svg.namespaceURI, "text");
    text.setAttribute("x", 0); text.setAttribute("y", y + 17); text.textContent = label(r);
    svg.append(text);
    let x = labelWidth;
    for (const [value, color, title] of segments(r)) {
      const w = max ? (value / max) * (width - labelWidth - 60) : 0;
      const rect = document.createElementNS(svg.namespaceURI, "rect");
      Object.entries({x, y: y + 4, width: Math.max(w, 0), height: rowHeight - 8, fill: color})
        .forEach(([k, v]) => rect.setAttribute(k, v));
      const tip = document.createElementNS(svg.namespaceURI, "title"); tip.textContent = title; rect.append(tip);
      svg.append(rect); x += w;
    }
    const total = document.createElementNS(svg.namespaceURI, "text");
    total.setAttribute("x", x + 6); total.setAttribute("y", y + 17);
    total.textContent = tail ? tail(r) : `${segments(r).reduce((s, [v]) => s + v, 0)}${suffix}`;
    svg.append(total);
  });
  container.replaceChildren(svg);
}

async function loadFunnel() {
  const rows = await api("/v1/stats/funnel");
  const max = Math.max(1, ...rows.map((r) => r.total ?? 0));
  bars(document.getElementById("funnel"), rows, {
    max, label: (r) => `${r.from_agency} → ${r.to_agency}`,
    // counts of 1 to 4 people are not published (null): shown as "<5"
    tail: (r) => (r.total === null ? "<5" : `${r.total}`) + (Object.values(r.by_status).includes(null) ? " (<5 …)" : ""),
    segments: (r) => STATUSES.filter((s) => r.by_status[s])
      .map((s) => [r.by_status[s], COLORS[s], `${I18N.status(s)}: ${r.by_status[s]}`]),
  });
}

// pathways per template (all regions), a row each: completed of started as a bar, the median days to the first
// service and the follow-up checks recorded; counts of 1 to 4 are withheld (null) and shown as "<5"
async function loadPathways() {
  const rows = (await api("/v1/stats/pathways")).filter((r) => r.region_code === "ALL");
  document.getElementById("pathways-empty").hidden = rows.length > 0;
  const shown = (n) => (n === null ? "<5" : `${n}`);
  const checks = (r) => Object.entries(r.follow_ups).map(([months, outcomes]) => {
    const counts = Object.values(outcomes);
    return `${months} ${I18N.t("pathways.months")}: ${shown(counts.includes(null) ? null : counts.reduce((a, n) => a + n, 0))}`;
  });
  const head = el("tr", {}, ...["col.template", "pathways.completed", "pathways.days", "pathways.followups"]
    .map((key) => el("th", {}, I18N.t(key))));
  const body = rows.map((r) => el("tr", {"data-template": r.template},
    el("th", {}, r.template),
    el("td", {class: "rate"},
      el("span", {class: "rate-bar", style: `width: ${r.completion_rate ?? 0}%`}),
      el("span", {class: "rate-text"}, `${shown(r.completed)}/${shown(r.started)}` +
        (r.completion_rate === null ? "" : ` (${r.completion_rate} %)`))),
    el("td", {}, r.median_days_to_first_service === null ? "<5" : `${r.median_days_to_first_service}`),
    el("td", {}, checks(r).join(" · ") || "–")));
  document.getElementById("pathways").replaceChildren(
    el("table", {class: "pathways"}, el("thead", {}, head), el("tbody", {}, ...body)));
}

// capacity at a glance: a cell per province (columns) and service type (rows), coloured by room left
function capacityTone(cell) {
  if (cell.services === cell.unknown) return "unknown";
  if (cell.full === cell.services - cell.unknown && cell.available === 0) return "full";
  if (cell.maximum && cell.available / cell.maximum < 0.25) return "low";
  return "ok";
}

async function loadDirectory() {
  const view = await api("/v1/stats/capacity");
  const container = document.getElementById("directory");
  document.getElementById("directory-empty").hidden = view.cells.length > 0;
  const byKey = new Map(view.cells.map((c) => [`${c.service_type}|${c.region}`, c]));
  const region = (r) => (r === "nasional" ? I18N.t("directory.national") : r);
  const head = el("tr", {}, el("th", {}, I18N.t("col.service")), ...view.regions.map((r) => el("th", {}, region(r))));
  const rows = view.service_types.map((service) => el("tr", {},
    el("th", {}, service),
    ...view.regions.map((r) => {
      const cell = byKey.get(`${service}|${r}`);
      if (!cell) return el("td", {class: "cell none"}, "");
      const room = cell.services === cell.unknown ? "?" : `${cell.available}/${cell.maximum ?? "?"}`;
      const waits = Object.entries(cell.waitlists).map(([band, n]) => `${I18N.t("directory.waitlist")} ${band}: ${n}`);
      const title = [`${cell.services} ${I18N.t("directory.services")}`, `${cell.full} ${I18N.t("directory.full")}`,
        ...waits].join(" · ");
      return el("td", {class: `cell ${capacityTone(cell)}`, title, "data-region": r, "data-service": service}, room);
    })));
  container.replaceChildren(el("table", {class: "capacity"}, el("thead", {}, head), el("tbody", {}, ...rows)));
}

async function loadIndicator() {
  const period = document.getElementById("period").value;
  const result = await api(`/v1/stats/indicators/354?period=${encodeURIComponent(period)}`);
  const rows = result.values.filter((v) => v.percent !== null);
  bars(document.getElementById("indicator"), rows, {
    max: Math.max(100, ...rows.map((r) => r.percent)), suffix: " %",
    label: (r) => `${r.region_code}  (${r.numerator}/${r.denominator})`,
    segments: (r) => [[r.percent, r.region_code === "ALL" ? "#0f766e" : "#14b8a6", `${r.percent} %`]],
  });
}

let pending = null;
function refresh() {
  clearTimeout(pending);
  pending = setTimeout(() => {
    loadHandoffs(); loadFunnel(); loadIndicator(); loadDirectory(); loadPathways();
    if (selectedPathway) showPathway(selectedPathway); else if (selectedCase) showCase(selectedCase);
  }, 150);
}

function follow() {
  const live = document.getElementById("live");
  const source = new EventSource("/v1/stream");
  source.addEventListener("open", () => { live.className = "live on"; live.dataset.i18n = "live.on"; I18N.apply(); });
  source.addEventListener("error", () => { live.className = "live off"; live.dataset.i18n = "live.off"; I18N.apply(); });
  source.addEventListener("change", refresh);
}

function setup() {
  const service = document.querySelector("select[name=service_type]");
  const status = document.querySelector("select[name=status]");
  const allOption = () => el("option", {value: "", "data-i18n": "filter.all"}, I18N.t("filter.all"));
  service.replaceChildren(allOption(), ...SERVICES.map((s) => el("option", {value: s}, s)));
  status.replaceChildren(allOption(), ...STATUSES.map((s) => el("option", {value: s}, I18N.status(s))));
  const now = new Date();
  document.getElementById("period").value = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}`;
  document.getElementById("period").addEventListener("change", loadIndicator);
  document.getElementById("filters").addEventListener("submit", (e) => { e.preventDefault(); loadHandoffs(); });
  document.getElementById("lang").addEventListener("click", () => I18N.toggle());
  document.addEventListener("langchange", () => {
    status.querySelectorAll("option[value]").forEach((o) => { if (o.value) o.textContent = I18N.status(o.value); });
    refresh();
  });
  I18N.apply();
  refresh();
  follow();
  setInterval(loadDirectory, 30000);  // capacity changes come from the directory, not the referral stream
}
setup();
