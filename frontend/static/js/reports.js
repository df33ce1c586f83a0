// /reports: the service report (GET /api/v1/reports/service) as charts (uPlot, served from
// /static/vendor) and a table, for a chosen range and grouping; CSV from the same query.

import { api } from "./api.js";
import { clear, h } from "./dom.js";
import { t as pt } from "./i18n.js";

const form = document.getElementById("report-form");
const errorBox = document.getElementById("report-error");
const tbody = document.querySelector("#report-table tbody");
const summary = document.getElementById("report-summary");
const csvLink = document.getElementById("report-csv");
const charts = [];

function isoDay(d) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 60) return pt("rep_seconds", { n: seconds });
  if (seconds < 3600) return pt("rep_minutes", { n: Math.round(seconds / 60) });
  return pt("rep_hours", { n: (seconds / 3600).toFixed(1) });
}

function share(value) {
  return value === null || value === undefined ? "–" : `${Math.round(value * 100)}%`;
}

function label(item, by) {
  if (by === "agent" && item.group === null) return pt("rep_no_agent");
  return String(item.group ?? "");
}

function query() {
  const data = new FormData(form);
  const params = new URLSearchParams();
  const until = new Date(`${data.get("until")}T00:00:00`);
  until.setDate(until.getDate() + 1); // the form's "until" day is included
  params.set("since", String(data.get("since")));
  params.set("until", isoDay(until));
  params.set("by", String(data.get("by")));
  return params;
}

function renderTable(items, by) {
  clear(tbody);
  for (const item of items) {
    tbody.append(
      h("tr", {},
        h("td", {}, label(item, by)),
        h("td", {}, String(item.conversations)),
        h("td", {}, String(item.messages_in)),
        h("td", {}, String(item.messages_out)),
        h("td", {}, duration(item.first_response_p50_s)),
        h("td", {}, duration(item.first_response_p90_s)),
        h("td", {}, share(item.first_response_within_target)),
        h("td", {}, duration(item.resolution_p50_s)),
        h("td", {}, String(item.resolved)),
        h("td", {}, String(item.csat_responses)),
        h("td", {}, share(item.csat_score)),
      ),
    );
  }
}

function renderSummary(total) {
  clear(summary);
  const cards = [
    [pt("rep_conversations"), String(total.conversations)],
    [pt("rep_first_p50"), duration(total.first_response_p50_s)],
    [pt("rep_within_target"), share(total.first_response_within_target)],
    [pt("rep_resolved"), String(total.resolved)],
    [pt("rep_csat_score"), share(total.csat_score)],
  ];
  for (const [name, value] of cards) {
    summary.append(h("div", { class: "report-card" }, h("span", { class: "muted" }, name), h("strong", {}, value)));
  }
}

const COLORS = ["#2563eb", "#16a34a", "#f59e0b", "#dc2626"];

function chart(el, items, by, series, percent = false) {
  const uPlot = window.uPlot;
  if (!uPlot) return;
  const xs = items.map((_, i) => i);
  // Days as MM-DD on the axis: a week or a year of them stays readable.
  const names = items.map((item) => (by === "day" ? label(item, by).slice(5) : label(item, by)));
  const opts = {
    width: Math.max(280, el.clientWidth || 480),
    height: 220,
    scales: { x: { time: false }, y: percent ? { range: [0, 100] } : { range: (_u, _min, max) => [0, Math.max(1, max)] } },
    axes: [
      { values: (_u, ticks) => ticks.map((i) => (Number.isInteger(i) ? names[i] ?? "" : "")) },
      {},
    ],
    series: [{ label: pt("rep_group"), value: (_u, i) => (i === null || i === undefined ? "–" : names[i] ?? "") }, ...series.map((s, i) => ({
      label: s.label,
      stroke: COLORS[i % COLORS.length],
      fill: by === "day" ? undefined : COLORS[i % COLORS.length] + "55",
      paths: by === "day" ? undefined : uPlot.paths.bars({ size: [0.6 / series.length, 60], align: i ? 1 : -1 }),
      points: { show: by === "day" },
      spanGaps: false,
    }))],
  };
  const data = [xs, ...series.map((s) => items.map(s.value))];
  clear(el);
  charts.push(new uPlot(opts, data, el));
}

function renderCharts(items, by) {
  while (charts.length) charts.pop().destroy();
  const minutes = (v) => (v === null || v === undefined ? null : Math.round((v / 60) * 10) / 10);
  const pct = (v) => (v === null || v === undefined ? null : Math.round(v * 100));
  chart(document.getElementById("chart-volume"), items, by, [
    { label: pt("rep_conversations"), value: (i) => i.conversations },
    { label: pt("rep_resolved"), value: (i) => i.resolved },
  ]);
  chart(document.getElementById("chart-first"), items, by, [
    { label: pt("rep_first_p50_min"), value: (i) => minutes(i.first_response_p50_s) },
    { label: pt("rep_first_p90_min"), value: (i) => minutes(i.first_response_p90_s) },
  ]);
  chart(document.getElementById("chart-csat"), items, by, [
    { label: pt("rep_csat_score_pct"), value: (i) => pct(i.csat_score) },
    { label: pt("rep_within_target_pct"), value: (i) => pct(i.first_response_within_target) },
  ], true);
}

async function load() {
  const params = query();
  errorBox.hidden = true;
  csvLink.href = `/api/v1/reports/service?${params}&format=csv`;
  try {
    const report = await api(`/api/v1/reports/service?${params}`);
    const by = params.get("by");
    renderSummary(report.total);
    renderTable(report.items, by);
    renderCharts(report.items, by);
    document.body.dataset.loaded = "1";
  } catch (err) {
    errorBox.textContent = err.detail || String(err);
    errorBox.hidden = false;
  }
}

function init() {
  const url = new URLSearchParams(location.search);
  // The workspace's today (its time zone), from the server.
  const today = new Date(`${document.getElementById("app").dataset.today}T00:00:00`);
  const weekAgo = new Date(today);
  weekAgo.setDate(today.getDate() - 6);
  form.since.value = url.get("since") || isoDay(weekAgo);
  if (url.get("until")) {
    const until = new Date(`${url.get("until")}T00:00:00`);
    until.setDate(until.getDate() - 1);
    form.until.value = isoDay(until);
  } else {
    form.until.value = isoDay(today);
  }
  if (["day", "agent", "channel"].includes(url.get("by"))) form.by.value = url.get("by");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  load();
}

init();
