// The dashboard in the browser: reads the JSON API, renders with textContent only
// (no HTML from data), draws charts with charts.js.
(function () {
  "use strict";
  const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
  const page = meta("admin-page");
  const subject = meta("admin-subject");
  const csrf = meta("csrf-token");
  const content = document.getElementById("content");
  const status = document.getElementById("status");

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "onclick") node.addEventListener("click", v);
      else if (v !== null && v !== undefined) node.setAttribute(k, v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      node.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    return node;
  }

  // --- time range: kept in the page's query string so a reload keeps it
  const params = new URLSearchParams(location.search);
  const preset = document.getElementById("range-preset");
  const custom = document.getElementById("range-custom");
  preset.value = params.get("range") || "24h";
  custom.hidden = preset.value !== "custom";
  if (params.get("start")) document.getElementById("range-start").value = params.get("start");
  if (params.get("end")) document.getElementById("range-end").value = params.get("end");

  function rangeQuery() {
    const q = new URLSearchParams({ range: preset.value });
    if (preset.value === "custom") {
      const s = document.getElementById("range-start").value;
      const e = document.getElementById("range-end").value;
      if (!s || !e) return null;
      q.set("start", new Date(s).toISOString());
      q.set("end", new Date(e).toISOString());
    }
    return q.toString();
  }

  function applyRange() {
    const q = new URLSearchParams({ range: preset.value });
    if (preset.value === "custom") {
      q.set("start", document.getElementById("range-start").value);
      q.set("end", document.getElementById("range-end").value);
    }
    history.replaceState(null, "", `${location.pathname}?${q}`);
    render();
  }
  preset.addEventListener("change", () => {
    custom.hidden = preset.value !== "custom";
    if (preset.value !== "custom") applyRange();
  });
  document.getElementById("range-apply").addEventListener("click", applyRange);

  async function api(path) {
    const r = await fetch(`/admin/api${path}`, { credentials: "same-origin" });
    if (r.status === 401) { location.href = "/admin/login"; throw new Error("logged out"); }
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
    return r.json();
  }

  async function post(path, body) {
    const r = await fetch(`/admin/api${path}`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {}),
    });
    if (r.status === 401) { location.href = "/admin/login"; throw new Error("logged out"); }
    const data = await r.json();
    if (!r.ok) throw new Error(data.detail || `HTTP ${r.status}`);
    return data;
  }

  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "–");
  const minutes = (s) => (s < 90 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`);

  // --- overview: charts, live conversations
  const CHARTS = [
    ["/stats/messages", "bar", "chart-messages"],
    ["/stats/intents", "dist", "chart-intents"],
    ["/stats/response-times", "line", "chart-response"],
    ["/stats/errors", "bar", "chart-errors"],
    ["/stats/costs", "bar", "chart-costs"],
    ["/stats/handoffs", "line", "chart-handoffs"],
  ];

  function summaryLine(data) {
    if (data.limit === null && data.unit === "USD") return `total ${Number(data.summary.total || 0).toFixed(4)} USD · no cap`;
    return Object.entries(data.summary || {}).map(([k, v]) =>
      `${k}: ${v === null ? "–" : Math.round(v * 100) / 100}`).join(" · ");
  }

  async function overview(q) {
    const grid = h("div", { class: "grid" });
    content.replaceChildren(h("h2", {}, "Charts"), grid,
      h("h2", {}, "Live conversations"), h("div", { id: "conversations" }, "Loading…"));
    await Promise.all(CHARTS.map(async ([path, kind, id]) => {
      const card = h("div", { class: "card chart", id });
      grid.appendChild(card);
      const data = await api(`${path}?${q}`);
      const body = h("div");
      card.replaceChildren(h("h3", {}, data.title), body,
        h("div", { class: "summary" }, kind === "dist" ? "" : summaryLine(data)));
      if (kind === "dist") window.Charts.bars(body, data);
      else window.Charts.series(body, data, kind);
    }));
    const rows = await api(`/conversations?${q}`);
    const table = h("table", { id: "conversation-table" },
      h("tr", {}, ["Channel", "Contact", "Status", "Last message", "Last intent", ""].map((t) => h("th", {}, t))),
      rows.map((c) => h("tr", {},
        h("td", {}, c.channel), h("td", {}, c.contact),
        h("td", {}, c.handoff_status ? h("span", { class: "tag" }, `handoff ${c.handoff_status}`) : (c.session_status || "–")),
        h("td", {}, when(c.last_message_at)), h("td", {}, c.last_intent || "–"),
        h("td", {}, h("a", { href: `/admin/conversations/${c.id}` }, "transcript")))));
    document.getElementById("conversations").replaceChildren(rows.length ? table : h("p", {}, "No conversations in this range."));
  }

  // --- one conversation
  async function conversation() {
    const t = await api(`/conversations/${subject}`);
    const c = t.conversation;
    content.replaceChildren(
      h("h2", {}, `${c.channel} · ${c.contact}`),
      h("p", { class: "summary" }, `session ${c.session_status || "–"}`,
        c.handoff_status ? ` · handoff ${c.handoff_status}` : "", ` · LLM cost ${t.cost_usd.toFixed(4)} USD`),
      h("table", { id: "transcript" },
        h("tr", {}, ["Time", "From", "Message", "Intent", "Status"].map((x) => h("th", {}, x))),
        t.messages.map((m) => h("tr", { class: `msg-${m.direction}` },
          h("td", {}, when(m.created_at)),
          h("td", {}, m.direction === "in" ? "user" : (m.author ? `staff: ${m.author}` : "bot")),
          h("td", {}, m.text),
          h("td", {}, m.intent ? `${m.intent} (${Math.round((m.confidence || 0) * 100)}%, ${m.method})` : ""),
          h("td", {}, m.status)))),
      h("h2", {}, "Tool calls"),
      t.tool_calls.length ? h("table", {}, h("tr", {}, ["Time", "Tool", "Outcome", "Attempts", "Latency"].map((x) => h("th", {}, x))),
        t.tool_calls.map((x) => h("tr", {}, h("td", {}, when(x.created_at)), h("td", {}, x.tool), h("td", {}, x.status),
          h("td", {}, x.attempts), h("td", {}, `${Math.round(x.latency_ms)} ms`)))) : h("p", {}, "None."),
      h("h2", {}, "LLM calls"),
      t.llm_calls.length ? h("table", {}, h("tr", {}, ["Time", "Model", "Tokens in/out", "Cost", "Latency"].map((x) => h("th", {}, x))),
        t.llm_calls.map((x) => h("tr", {}, h("td", {}, when(x.created_at)), h("td", {}, x.model),
          h("td", {}, `${x.input_tokens}/${x.output_tokens}`), h("td", {}, `${x.cost_usd.toFixed(5)} USD`),
          h("td", {}, `${Math.round(x.latency_ms)} ms`)))) : h("p", {}, "None."));
  }

  // --- the handoff queue: the console when Slack is not configured
  async function handoffs() {
    const items = await api("/handoffs");
    const act = (id, action, body) => async () => {
      try {
        const r = await post(`/handoffs/${id}/${action}`, body && body());
        status.textContent = r.text;
      } catch (e) { status.textContent = e.message; }
      render();
    };
    content.replaceChildren(h("h2", {}, `Handoff queue (${items.length})`),
      items.length ? h("table", { id: "handoff-table" },
        h("tr", {}, ["Waiting", "Status", "Channel", "Contact", "Why", "Summary", "Actions"].map((x) => h("th", {}, x))),
        items.map((x) => {
          const box = h("textarea", { placeholder: "Reply to the customer (// for an internal note)", "aria-label": "reply" });
          return h("tr", { "data-handoff": x.id },
            h("td", {}, minutes(x.waiting_s)),
            h("td", {}, x.status + (x.staff ? ` by ${x.staff}` : "")),
            h("td", {}, x.channel), h("td", {}, x.contact),
            h("td", {}, `${x.trigger}: ${x.reason}`), h("td", {}, x.summary),
            h("td", { class: "actions" },
              h("a", { href: `/admin/conversations/${x.conversation_id}` }, "transcript"), " ",
              x.status === "waiting" ? h("button", { type: "button", onclick: act(x.id, "claim") }, "Claim") : null,
              h("button", { type: "button", onclick: act(x.id, "resolve") }, "Resolve"),
              h("button", { type: "button", onclick: act(x.id, "back") }, "Back to bot"),
              box,
              h("button", { type: "button", onclick: act(x.id, "reply", () => ({ text: box.value })) }, "Send reply")));
        })) : h("p", {}, "Nobody is waiting for a person."));
  }

  async function render() {
    const q = rangeQuery();
    if (q === null) return;
    try {
      if (page === "overview") await overview(q);
      else if (page === "conversation") await conversation();
      else if (page === "handoffs") await handoffs();
      document.body.dataset.loaded = "true";
    } catch (e) {
      status.textContent = `Could not load: ${e.message}`;
    }
  }

  document.getElementById("range").hidden = page !== "overview";
  render();
  // Keep the queue fresh, but never redraw under someone typing a reply.
  setInterval(() => {
    const typing = [...document.querySelectorAll("textarea")].some((t) => t.value || t === document.activeElement);
    if (page !== "conversation" && !typing) render();
  }, 15000);
})();
