// The health panel: /healthz (the database, each replica's state and lag) and, from /metrics,
// request rates by outcome, refusals, in-flight requests and the pool. Rates are the change
// between two readings, so they appear from the second refresh on.

import { service } from "../api.js";
import { button, empty, h, loading, notice, replace, table } from "../dom.js";

const REFRESH_MS = 5000;

export function healthView(region) {
  const state = h("div", { class: "results" });
  const figures = h("div", { class: "results" });
  let previous = null;
  const refresh = () => {
    loading(state, databaseState);
    loading(figures, async () => {
      const { status, text } = await service("/metrics");
      if (status !== 200) throw new Error(`/metrics answered ${status}`);
      const reading = { at: performance.now(), samples: parse(text) };
      const shown = metricTables(reading, previous);
      previous = reading;
      return shown;
    });
  };
  replace(region, h("h2", {}, "Health"),
    h("div", { class: "actions" }, button("Refresh", refresh),
      h("span", { class: "meta" }, `Refreshes every ${REFRESH_MS / 1000} s while open.`)),
    h("h3", {}, "Database"), state, h("h3", {}, "Traffic"), figures);
  refresh();
  const timer = window.setInterval(refresh, REFRESH_MS);
  return () => window.clearInterval(timer);
}

async function databaseState() {
  const { status, text } = await service("/healthz");
  let answer;
  try {
    answer = JSON.parse(text);
  } catch {
    throw new Error(`/healthz answered ${status} without JSON`);
  }
  const shown = [status === 200
    ? notice("done", "The database answers.")
    : notice("error", answer.error ? answer.error.message : `/healthz answered ${status}`)];
  if (answer.replicas) {
    shown.push(table(["Replica", "State", "Lag", "Problem"], answer.replicas.map((r) => [
      r.name, r.up ? "serving reads" : "down",
      r.lag_s === null ? "—" : `${r.lag_s.toFixed(2)} s`, r.problem || "",
    ]), "Read replicas"));
  } else if (status === 200) {
    shown.push(h("p", { class: "meta" }, "No read replicas configured."));
  }
  return shown;
}

// Prometheus text exposition: [{name, labels: {..}, value}], comments skipped. Label values
// are read with their escapes (\\, \", \n) undone.
export function parse(text) {
  const samples = [];
  const line = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
  const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const raw of text.split("\n")) {
    if (!raw || raw.startsWith("#")) continue;
    const found = line.exec(raw);
    if (!found) continue;
    const labels = {};
    for (const [, name, value] of (found[2] || "").matchAll(label)) {
      labels[name] = value.replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
    }
    samples.push({ name: found[1], labels, value: Number(found[3]) });
  }
  return samples;
}

function total(samples, name, keep = () => true) {
  return samples.filter((s) => s.name === name && keep(s.labels))
    .reduce((sum, s) => sum + s.value, 0);
}

function metricTables(reading, previous) {
  const { samples } = reading;
  const seconds = previous ? (reading.at - previous.at) / 1000 : null;
  const rate = (name, keep) => {
    if (!previous || seconds <= 0) return "—";
    const change = total(samples, name, keep) - total(previous.samples, name, keep);
    return `${(change / seconds).toFixed(2)}/s`;
  };
  const requests = "konstruct_memory_requests_total";
  const outcomes = [
    ["Answered 2xx", (l) => l.status.startsWith("2")],
    ["Refused 4xx", (l) => l.status.startsWith("4")],
    ["Failed 5xx", (l) => l.status.startsWith("5")],
  ].map(([title, keep]) => [title, String(total(samples, requests, keep)), rate(requests, keep)]);
  const rejected = "konstruct_memory_rejected_total";
  const reasons = [...new Set(samples.filter((s) => s.name === rejected)
    .map((s) => s.labels.reason))].sort();
  const refusals = reasons.map((reason) => {
    const keep = (l) => l.reason === reason;
    return [reason, String(total(samples, rejected, keep)), rate(rejected, keep)];
  });
  const gauge = (name) => String(total(samples, name));
  const lag = samples.filter((s) => s.name === "konstruct_memory_replica_lag_seconds");
  return [
    table(["Requests", "Since start", "Rate"], outcomes, "HTTP requests by outcome"),
    refusals.length
      ? table(["Refused before running", "Since start", "Rate"], refusals,
        "Overload (503), rate limits and failed sign-ins (429)")
      : empty("No request has been refused for load, rate or failed authentication."),
    table(["Now", "Value"], [
      ["Requests in flight", gauge("konstruct_memory_requests_in_flight")],
      ["Pooled connections", gauge("konstruct_memory_pool_size")],
      ["Idle connections", gauge("konstruct_memory_pool_available")],
      ["Requests waiting for a connection", gauge("konstruct_memory_pool_waiting")],
      ...lag.map((s) => [`Lag of replica ${s.labels.replica}`, `${s.value.toFixed(2)} s`]),
    ], "Right now"),
  ];
}
