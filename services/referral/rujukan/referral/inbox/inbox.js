// The agency inbox: one page that calls the same /v1 API as agency systems, with the session cookie and the
// session's CSRF token. Every text from the server goes in as text (never as HTML). Live: a small change
// marker is polled, and the view is drawn again when it moves, never over what the person is typing.
"use strict";

const POLL_MS = 3000;
const REQUEST_TIMEOUT_MS = 30000;
const state = {
  csrf: document.querySelector('meta[name="csrf-token"]').content, // sent on every API request, reads too
  me: null, vocab: null, names: {}, version: null, route: null, draft: null, polling: false, timer: null, dueTimer: null,
};

class ApiError extends Error {
  constructor(status, message, body) { super(message); this.status = status; this.body = body; }
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const t = (key) => I18N.t(key);
const when = (iso) => (iso ? new Date(iso).toLocaleString(I18N.locale(), { dateStyle: "medium", timeStyle: "short" }) : "");
const agencyName = (code) => (code === state.me?.agency_code ? state.me.agency_name
  : state.vocab?.agencies.find((a) => a.code === code)?.name ?? code);
const newKey = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");

// A 401 never leaves the page (what is typed stays): the banner offers to sign in again in another tab.
// A 403 for a stale CSRF token (signed in again elsewhere) takes the session's token and tries once more.
async function api(method, path, body, { key, retried = false } = {}) {
  const headers = { Accept: "application/json", "X-CSRF-Token": state.csrf };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (key) headers["Idempotency-Key"] = key;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
  let response;
  try {
    response = await fetch(path, {
      method, headers, credentials: "same-origin", signal: abort.signal,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, t("error.network"));
  } finally {
    clearTimeout(timer);
  }
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json().catch(() => null) : null;
  if (response.status === 401) {
    showSignedOut();
    throw new ApiError(401, t("error.session"));
  }
  if (response.status === 403 && !retried && String(data?.detail || "").includes("CSRF") && await freshToken()) {
    return api(method, path, body, { key, retried: true });
  }
  if (!response.ok) throw new ApiError(response.status, problemText(data, response.status), data);
  return data;
}

async function freshToken() {
  try {
    const response = await fetch("/agency/api/csrf", { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) return false;
    state.csrf = (await response.json()).csrf;
    document.querySelectorAll('input[name="csrf"]').forEach((field) => { field.value = state.csrf; });
    return true;
  } catch (error) {
    return false;
  }
}

function showSignedOut() {
  const banner = document.getElementById("banner");
  banner.replaceChildren(t("error.session"), " ",
    el("a", { href: "/agency/login", target: "_blank", rel: "noopener", text: t("error.signin") }));
  banner.hidden = false;
}

function problemText(problem, status) {
  if (!problem) return `${t("error.failed")} (${status})`;
  const parts = [problem.detail || problem.title || `${t("error.failed")} (${status})`];
  if (Array.isArray(problem.errors)) parts.push(...problem.errors.map((e) => `${e.location}: ${e.message}`));
  if (problem.allowed_actions) parts.push(`${t("actions")}: ${problem.allowed_actions.map((a) => t(`action.${a}`)).join(", ")}`);
  return parts.join(" — ");
}

function showBanner(message) {
  const banner = document.getElementById("banner");
  banner.textContent = message || "";
  banner.hidden = !message;
}

// -- routes ----------------------------------------------------------------------------------------------------
function route() {
  const hash = location.hash.replace(/^#\/?/, "");
  if (hash.startsWith("r/")) return { name: "detail", id: hash.slice(2) };
  if (hash === "outgoing" || hash === "new" || hash === "webhooks") return { name: hash };
  return { name: "incoming" };
}

async function draw({ live = false } = {}) {
  const current = route();
  for (const tab of ["incoming", "outgoing", "new", "webhooks"]) {
    document.getElementById(`tab-${tab}`).classList.toggle("active", current.name === tab);
  }
  const view = document.getElementById("view");
  try {
    if (current.name === "new") {
      // the same form element comes back, with what was typed in it, until a referral is made from it
      if (!live) view.replaceChildren(state.draft ??= newReferralForm());
    } else if (current.name === "webhooks") {
      await drawWebhooks(view);
    } else if (current.name === "detail") {
      await drawDetail(view, current.id, { live });
    } else {
      await drawList(view, current.name);
    }
    if (!document.querySelector("#banner a")) showBanner("");
  } catch (error) {
    if (error.status === 404) view.replaceChildren(el("p", { class: "panel", text: error.message }), backLink());
    else if (error.status !== 401) showBanner(error.message);
  }
  state.route = location.hash;
}

function backLink() {
  return el("button", { type: "button", class: "secondary", onclick: () => history.back(), text: t("back") });
}

// -- lists -----------------------------------------------------------------------------------------------------
async function drawList(view, direction) {
  const closed = view.querySelector("#closed")?.checked ?? false;
  const page = await api("GET", `/agency/api/inbox?direction=${direction}${closed ? "&closed=true" : ""}`);
  if (route().name !== direction) return;
  const toggle = el("label", { class: "muted" },
    el("input", { type: "checkbox", id: "closed", checked: closed, onchange: () => draw() }), " ", t("list.closed"));
  const cards = page.items.map((item) => referralCard(item, direction));
  view.replaceChildren(...[
    el("h2", { text: t(`list.${direction}`) }),
    el("p", { class: "hint", text: t("list.hint") }),
    toggle,
    el("div", { id: "cards" }, cards.length ? cards : el("p", { class: "panel", text: t("list.none") })),
    page.more ? el("p", { class: "hint", text: t("list.more") }) : null,
  ].filter(Boolean));
  // a card turns overdue when its time comes, though nothing changed: draw again then
  const skew = Date.now() - new Date(page.now).getTime();
  const next = page.items.flatMap((i) => [i.ack_due_at, i.respond_due_at]).filter(Boolean)
    .map((d) => new Date(d).getTime() + skew - Date.now()).filter((ms) => ms > 0);
  clearTimeout(state.dueTimer);
  const wait = Math.min(...next, 6 * 3600 * 1000) + 1000; // at most 6 h (a timer cannot wait past 24 days)
  if (next.length) state.dueTimer = setTimeout(() => { if (route().name === direction) draw({ live: true }); }, wait);
}

function referralCard(item, direction) {
  const other = direction === "incoming" ? `${t("from")} ${agencyName(item.from_agency)}` : `${t("to")} ${agencyName(item.to_agency)}`;
  const due = item.ack_due_at
    ? `${t("due.ack")} ${when(item.ack_due_at)}`
    : item.respond_due_at ? `${t("due.respond")} ${when(item.respond_due_at)}` : null;
  return el("a", { href: `#/r/${item.id}`, class: `card${item.overdue ? " overdue" : ""}`, "data-referral": item.id },
    el("div", { class: "row" },
      el("span", { class: "title", text: t(`service_type.${item.service_type}`) }),
      el("span", { class: `badge ${item.urgency}`, text: t(`urgency.${item.urgency}`) }),
      el("span", { class: "badge status", text: t(`status.${item.status}`) }),
      item.overdue ? el("span", { class: "badge late", text: t("overdue") }) : null),
    el("div", { class: "row muted" },
      el("span", { text: other }),
      el("span", { text: `${t("created")} ${when(item.created_at)}` }),
      due ? el("span", { class: item.overdue ? "late" : "", text: due }) : null,
      el("span", { class: "mono", text: item.subject_id })));
}

// -- one referral ----------------------------------------------------------------------------------------------
async function drawDetail(view, id, { live }) {
  const referral = await api("GET", `/v1/referrals/${encodeURIComponent(id)}`);
  if (route().id !== id) return;
  const info = detailInfo(referral);
  const held = view.querySelector("#actions");
  const actionsHolder = held?.dataset.referral === id ? held : null; // never another referral's forms
  const typing = actionsHolder && [...actionsHolder.querySelectorAll("textarea, select, input")].some((f) => f.value);
  const sameActions = actionsHolder?.dataset.allowed === referral.allowed_actions.join(",");
  if (live && actionsHolder && (typing || sameActions) && view.querySelector("#info")) {
    view.querySelector("#info").replaceWith(info); // keep what is being typed
    if (!sameActions && !actionsHolder.querySelector(".stale")) {
      actionsHolder.prepend(el("p", { class: "warning stale", role: "status", text: t("actions.stale") }));
    }
    return;
  }
  view.replaceChildren(backLink(), info, actionsPanel(referral));
}

function detailInfo(r) {
  const s = r.subject;
  const subjectRows = s.erased
    ? [el("p", { class: "muted", text: t("erased") })]
    : [el("dl", {}, ...["full_name", "nik", "birth_date", "phone", "address"].filter((f) => s[f])
      .flatMap((f) => [el("dt", { text: t(`field.${f}`) }), el("dd", { text: s[f] })]))];
  const attributes = el("dl", {}, ...[
    ["field.sex", t(`sex.${s.sex}`)], ["field.category", t(`category.${s.category}`)], ["field.age_band", t(`age_band.${s.age_band}`)],
    ["field.region_code", s.region_code], ["field.subject_id", s.subject_id],
  ].flatMap(([label, value]) => [el("dt", { text: t(label) }), el("dd", { text: value })]));
  const consent = r.consent ? `${t(`consent_given_by.${r.consent.given_by}`)}, ${when(r.consent.recorded_at)}` : "—";
  return el("div", { id: "info" },
    el("section", { class: "panel" },
      el("h2", {}, t(`service_type.${r.service_type}`), " ",
        el("span", { class: "badge status", id: "status", "data-status": r.status, text: t(`status.${r.status}`) })),
      el("dl", {},
        el("dt", { text: t("from") }), el("dd", { text: agencyName(r.from_agency) }),
        el("dt", { text: t("to") }), el("dd", { text: agencyName(r.to_agency) }),
        el("dt", { text: t("urgency") }), el("dd", { text: t(`urgency.${r.urgency}`) }),
        el("dt", { text: t("created") }), el("dd", { text: when(r.created_at) }),
        ...(r.status === "requested" && r.ack_due_at ? [el("dt", { text: t("due.ack") }), el("dd", { text: when(r.ack_due_at) })] : []),
        ...(["requested", "received"].includes(r.status) && r.respond_due_at
          ? [el("dt", { text: t("due.respond") }), el("dd", { text: when(r.respond_due_at) })] : []),
        el("dt", { text: t("legal_basis") }), el("dd", { text: t(`legal_basis.${r.legal_basis}`) }),
        el("dt", { text: t("consent") }), el("dd", { text: consent })),
      r.reason ? el("div", {}, el("h3", { text: t("reason") }), el("p", { class: "note", text: r.reason })) : null),
    el("section", { class: "panel" }, el("h2", { text: t("subject") }), ...subjectRows, attributes),
    el("section", { class: "panel" }, el("h2", { text: t("history") }),
      el("ol", { class: "timeline", id: "history" }, r.history.map(historyEntry))));
}

function historyEntry(entry) {
  const who = [agencyName(entry.actor_agency)];
  if (entry.actor_staff) {
    const name = entry.actor_staff === state.me.staff_id ? t("staff.you") : state.names[entry.actor_staff];
    who.push(name ? `${name} (${entry.actor_staff})` : entry.actor_staff);
  }
  const detail = [entry.reason_code && t(`reason_code.${entry.reason_code}`), entry.outcome && t(`outcome.${entry.outcome}`),
    entry.to_agency && `→ ${agencyName(entry.to_agency)}`].filter(Boolean).join(", ");
  return el("li", { "data-event": entry.event_type },
    el("time", { text: when(entry.occurred_at) }), " ",
    el("strong", { text: t(`event.${entry.event_type}`) }), " ",
    el("span", { class: "muted", text: `${t("by")} ${who.join(" · ")}` }),
    detail ? el("div", { text: detail }) : null,
    entry.note ? el("div", { class: "note", text: entry.note }) : null);
}

function actionsPanel(referral) {
  const panel = el("section", { class: "panel", id: "actions", "data-referral": referral.id,
    "data-allowed": referral.allowed_actions.join(",") },
    el("h2", { text: t("actions") }));
  const actions = referral.allowed_actions.filter((a) => a !== "note");
  if (!actions.length) panel.append(el("p", { class: "muted", text: t("actions.none") }));
  const buttons = el("div", { class: "actions" });
  const holder = el("div");
  for (const action of actions) {
    buttons.append(el("button", { type: "button", "data-action": action, text: t(`action.${action}`),
      onclick: () => holder.replaceChildren(actionForm(referral, action)) }));
  }
  panel.append(buttons, holder);
  if (referral.allowed_actions.includes("note")) panel.append(el("h3", { text: t("note.add") }), actionForm(referral, "note"));
  return panel;
}

// One Idempotency-Key per request body: a retry of the same submit (its answer lost on a slow line) takes
// nothing twice; an edited one is another request, with a key of its own.
function keyPerBody() {
  let last = null;
  let key = null;
  return {
    of(body) {
      const text = JSON.stringify(body);
      if (text !== last) { last = text; key = newKey(); }
      return key;
    },
    forget() { last = null; key = null; },
  };
}

function select(name, values, labelPrefix, { required = true, options = null } = {}) {
  const field = el("select", { name, required }, el("option", { value: "", text: t("choose") }));
  for (const value of values) {
    field.append(el("option", { value, text: options ? options(value) : t(`${labelPrefix}.${value}`) }));
  }
  return field;
}

function actionForm(referral, action) {
  const requires = state.vocab.action_requires[action] || [];
  const message = el("div", { role: "status" });
  const form = el("form", { class: "stack", "data-form": action });
  const keys = keyPerBody();
  if (requires.includes("to_agency")) {
    const agencies = state.vocab.agencies.map((a) => a.code).filter((c) => c !== referral.to_agency && c !== referral.from_agency);
    const target = select("to_agency", agencies, "", { options: agencyName });
    form.append(el("label", {}, t("field.to_agency"), target), directoryMatches(referral, target));
  }
  if (requires.includes("reason_code")) form.append(el("label", {}, t("field.reason_code"), select("reason_code", state.vocab.reason_code, "reason_code")));
  if (requires.includes("outcome")) form.append(el("label", {}, t("field.outcome"), select("outcome", state.vocab.outcome, "outcome")));
  const note = el("textarea", { name: "note", maxlength: "4000", required: action === "note" });
  form.append(el("label", {}, action === "note" ? t("note.label") : t("field.note"), note));
  const submit = el("button", { type: "submit", text: action === "note" ? t("note.add") : t(`action.${action}`) });
  form.append(submit, message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {};
    for (const [name, value] of new FormData(form)) if (value) body[name] = value;
    submit.disabled = true;
    message.replaceChildren();
    try {
      await api("POST", `/v1/referrals/${referral.id}/${action}`, body, { key: keys.of(body) });
      keys.forget();
      form.reset();
      message.replaceChildren(el("p", { class: "ok", text: t("done") }));
      await draw({ live: true });
    } catch (error) {
      message.replaceChildren(el("p", { class: "error", role: "alert", text: error.message }));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function directoryMatches(referral, target) {
  const list = el("ul", { class: "matches hint" }, el("li", { text: t("loading") }));
  const params = new URLSearchParams({ service_type: referral.service_type, region_code: referral.subject.region_code,
    category: referral.subject_category, limit: "5" });
  api("GET", `/v1/directory/match?${params}`).then((page) => {
    const items = page.items.filter((m) => m.agency !== referral.to_agency);
    list.replaceChildren(el("li", { text: t("matches") }), ...(items.length ? items.map((m) => el("li", {},
      el("button", { type: "button", class: "link", text: t("matches.use"), onclick: () => { target.value = m.agency; } }),
      ` ${agencyName(m.agency)}: ${m.name}`, m.reasons?.length ? ` (${m.reasons.join("; ")})` : "")) : [el("li", { text: t("matches.none") })]));
  }).catch(() => list.replaceChildren());
  return list;
}

// -- the agency's webhooks (the notifier's API, read through the session) -----------------------------------------
async function drawWebhooks(view) {
  let subscription = null;
  try {
    subscription = await api("GET", "/v1/subscription");
  } catch (error) {
    if (error.status !== 404) throw error;
    if (!String(error.body?.detail || "").includes("subscription")) { // no notifier at this address
      view.replaceChildren(el("p", { class: "panel muted", text: t("webhook.unavailable") }));
      return;
    }
  }
  const deliveries = subscription ? await api("GET", "/v1/deliveries?limit=50") : { items: [] };
  if (route().name !== "webhooks") return;
  const about = subscription
    ? el("dl", {},
      el("dt", { text: t("webhook.url") }), el("dd", { class: "mono", text: subscription.url }),
      el("dt", { text: t("webhook.state") }),
      el("dd", { text: subscription.enabled ? t("webhook.enabled") : `${t("webhook.disabled")} (${subscription.disabled_reason || ""})` }),
      el("dt", { text: t("webhook.events") }),
      el("dd", { text: subscription.event_types.length ? subscription.event_types.join(", ") : t("webhook.all") }),
      el("dt", { text: t("webhook.secrets") }),
      el("dd", { class: "mono", text: subscription.secrets.map((s) => s.hint).join(", ") }))
    : el("p", { class: "muted", text: t("webhook.none") });
  const rows = deliveries.items.map((d) => el("li", { "data-delivery": d.id },
    el("time", { text: when(d.created_at) }), " ", el("strong", { text: d.type }), " ",
    el("span", { class: `badge${d.status === "failed" ? " late" : ""}`, text: t(`delivery.${d.status}`) }), " ",
    el("span", { class: "muted", text: `${t("delivery.attempts")}: ${d.attempts}` }),
    d.last_status_code ? el("span", { class: "muted", text: ` · HTTP ${d.last_status_code}` }) : null,
    d.last_error ? el("div", { class: "muted", text: d.last_error }) : null,
    el("div", {}, el("a", { href: `#/r/${d.referral_id}`, class: "mono", text: d.referral_id }))));
  view.replaceChildren(
    el("section", { class: "panel" }, el("h2", { text: t("webhook.title") }), about,
      el("p", { class: "hint", text: t("webhook.change") })),
    el("section", { class: "panel" }, el("h2", { text: t("delivery.title") }),
      rows.length ? el("ol", { class: "timeline", id: "deliveries" }, rows) : el("p", { class: "muted", text: t("delivery.none") })));
}

// -- a new referral ----------------------------------------------------------------------------------------------
function newReferralForm() {
  const v = state.vocab;
  const message = el("div", { role: "status" });
  const localNow = new Date(Date.now() - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  const keys = keyPerBody();
  const form = el("form", { class: "stack panel", id: "new-referral" },
    el("h2", { text: t("new.title") }),
    el("label", {}, t("to"), select("to_agency", v.agencies.map((a) => a.code), "", { options: agencyName })),
    el("label", {}, t("service"), select("service_type", v.service_type, "service_type")),
    el("label", {}, t("urgency"), select("urgency", v.urgency, "urgency")),
    el("label", {}, t("reason"), el("textarea", { name: "reason", required: true, maxlength: "4000" })),
    el("label", {}, t("legal_basis"), select("legal_basis", v.legal_basis, "legal_basis")),
    el("fieldset", {}, el("legend", { text: t("consent") }),
      el("label", {}, t("consent.given_by"), select("consent_given_by", v.consent_given_by, "consent_given_by", { required: false })),
      el("label", {}, t("consent.recorded_at"), el("input", { type: "datetime-local", name: "consent_recorded_at", value: localNow }))),
    el("fieldset", {}, el("legend", { text: t("subject") }),
      el("label", {}, t("field.full_name"), el("input", { name: "full_name", required: true, maxlength: "200", autocomplete: "off" })),
      el("label", {}, t("field.nik"), el("input", { name: "nik", inputmode: "numeric", pattern: "[0-9]{16}", maxlength: "16", autocomplete: "off" })),
      el("label", {}, t("field.birth_date"), el("input", { type: "date", name: "birth_date" })),
      el("label", {}, t("field.sex"), select("sex", v.sex, "sex")),
      el("label", {}, t("field.category"), select("category", v.category, "category")),
      el("label", {}, t("field.region_code"), el("input", { name: "region_code", required: true, maxlength: "13", placeholder: "31.75" })),
      el("label", {}, t("field.phone"), el("input", { name: "phone", type: "tel", maxlength: "20", autocomplete: "off" })),
      el("label", {}, t("field.address"), el("textarea", { name: "address", maxlength: "500" }))),
    el("div", { class: "actions" },
      el("button", { type: "button", class: "secondary", id: "check", text: t("new.check"), onclick: () => send(true) }),
      el("button", { type: "submit", id: "send", text: t("new.send") })),
    message);

  function body(dryRun) {
    const data = Object.fromEntries([...new FormData(form)].filter(([, value]) => value !== ""));
    const subject = {};
    for (const name of ["full_name", "nik", "birth_date", "sex", "category", "region_code", "phone", "address"]) {
      if (data[name]) subject[name] = data[name];
    }
    const out = { to_agency: data.to_agency, service_type: data.service_type, urgency: data.urgency, reason: data.reason,
      legal_basis: data.legal_basis, subject, dry_run: dryRun };
    if (data.consent_given_by) {
      const at = data.consent_recorded_at ? new Date(data.consent_recorded_at) : new Date();
      out.consent = { given_by: data.consent_given_by, recorded_at: at.toISOString() };
    }
    return out;
  }

  function findings(answer) {
    const nodes = [];
    if (answer.errors?.length) nodes.push(el("div", { class: "error" }, el("strong", { text: t("new.errors") }), el("ul", {}, answer.errors.map((f) => el("li", { text: f.detail || f.code })))));
    if (answer.warnings?.length) nodes.push(el("div", { class: "warning" }, el("strong", { text: t("new.warnings") }), el("ul", {}, answer.warnings.map((f) => el("li", { text: f.detail || f.code })))));
    return nodes;
  }

  async function send(dryRun) {
    if (!form.reportValidity()) return;
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    message.replaceChildren();
    try {
      const sent = body(dryRun);
      const answer = await api("POST", "/v1/referrals", sent, dryRun ? {} : { key: keys.of(sent) });
      if (dryRun) {
        const found = findings(answer);
        message.replaceChildren(...(found.length ? found : [el("p", { class: "ok", text: t("new.checked.ok") })]));
      } else {
        keys.forget();
        form.reset();
        state.draft = null;
        message.replaceChildren(el("p", { class: "ok" }, t("new.created"), " ",
          el("a", { href: `#/r/${answer.id}`, text: answer.id })), ...findings(answer));
      }
    } catch (error) {
      message.replaceChildren(el("p", { class: "error", role: "alert", text: error.message }));
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); send(false); });
  return form;
}

// -- live ------------------------------------------------------------------------------------------------------
async function poll() {
  if (document.hidden || state.polling) return; // a hidden tab spends nothing; one poll at a time
  state.polling = true;
  const live = document.getElementById("live");
  try {
    const { version } = await api("GET", "/agency/api/changes");
    if (document.querySelector("#banner a")) showBanner(""); // signed in again (elsewhere): the session is back
    live.className = "live on";
    live.dataset.i18n = "live.on";
    if (state.version !== null && version !== state.version) await draw({ live: true });
    state.version = version;
  } catch (error) {
    live.className = "live off";
    live.dataset.i18n = "live.off";
  }
  live.textContent = t(live.dataset.i18n);
  state.polling = false;
  clearTimeout(state.timer);
  state.timer = setTimeout(poll, POLL_MS);
}

document.addEventListener("visibilitychange", () => {
  clearTimeout(state.timer);
  if (!document.hidden && state.me) poll();
});

async function start() {
  document.getElementById("lang").addEventListener("click", () => {
    I18N.toggle();
    const draft = state.draft;
    if (draft && ![...draft.querySelectorAll("input:not([type=datetime-local]), textarea, select")].some((f) => f.value)) {
      state.draft = null; // an untouched form is drawn again in the new language; a typed one is kept as it is
    }
    draw({ live: route().name === "detail" }); // a referral's typed text stays; the rest is drawn anew
  });
  try {
    [state.me, state.vocab] = await Promise.all([api("GET", "/agency/api/me"), api("GET", "/agency/api/vocabulary")]);
    if (state.me.role === "supervisor") state.names = await api("GET", "/agency/api/staff");
  } catch (error) {
    if (error.status === 401) location.href = "/agency/login"; // nothing typed yet
    else showBanner(error.message);
    return;
  }
  document.getElementById("agency").textContent = state.me.agency_name;
  document.getElementById("person").dataset.i18n = `role.${state.me.role}`;
  document.getElementById("person").dataset.name = state.me.name;
  I18N.apply();
  window.addEventListener("hashchange", () => draw());
  await draw();
  poll();
}

start();
