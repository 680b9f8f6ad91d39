// One report of the history as DOM nodes: status badge, progress, file, error, actions.
// Everything from the API goes in as text.

import { badge, el } from "./dom.js";
import { renderDeliveries } from "./delivery-row.js";
import {
  formatBytes,
  formatClock,
  formatCount,
  formatDuration,
  formatRun,
  formatTime,
  secondsBetween,
  summarizeParameters,
} from "./format.js";

export const ACTIVE = new Set(["Pending", "Processing"]);
const FINISHED = new Set(["Completed", "Failed", "Cancelled", "Expired"]);

// A symbol beside the word, so colour is never the only signal.
const BADGES = {
  Pending: "◷",
  Processing: "▶",
  Completed: "✓",
  Failed: "✕",
  Cancelled: "⊘",
  Expired: "⌛",
};

// What a change of a report looks like; a fresh downloadUrl alone is no change.
export function signature(report) {
  const { downloadUrl, downloadUrlExpiresAt, ...rest } = report;
  return JSON.stringify(rest);
}

function time(iso) {
  return el("time", { datetime: iso }, formatTime(iso));
}

function durationLine(report) {
  if (report.status === "Pending") return `waiting for ${formatDuration(secondsBetween(report.createdAt))}`;
  if (report.status === "Processing") return `running for ${formatDuration(secondsBetween(report.startedAt || report.createdAt))}`;
  if (report.completedAt) return `took ${formatDuration(secondsBetween(report.startedAt || report.createdAt, report.completedAt))}`;
  return null;
}

function progressBlock(report, ids) {
  const progress = report.progress || {};
  const parts = [];
  if (progress.rowsTotal) {
    parts.push(`${formatCount(progress.rowsProcessed || 0)} of about ${formatCount(progress.rowsTotal)} rows`);
  } else {
    parts.push(`${formatCount(progress.rowsProcessed || 0)} rows so far`);
  }
  if (progress.percent !== null && progress.percent !== undefined) parts.push(`${progress.percent} %`);
  if (progress.estimatedCompletionAt) {
    const left = secondsBetween(new Date().toISOString(), progress.estimatedCompletionAt);
    parts.push(`about ${formatDuration(left)} left (done by ${formatClock(progress.estimatedCompletionAt)})`);
  }
  const bar = el("progress", {
    class: "progress",
    max: 100,
    "aria-labelledby": ids.progressLabel,
    "aria-describedby": ids.progressText,
    dataset: { rowsProcessed: progress.rowsProcessed || 0 },
  });
  if (progress.percent !== null && progress.percent !== undefined) bar.value = progress.percent;
  return el(
    "div",
    { class: "progress-block" },
    el("span", { class: "visually-hidden", id: ids.progressLabel }, "Progress"),
    bar,
    el("p", { class: "progress-text", id: ids.progressText }, parts.join(" · ")),
  );
}

function outcome(report) {
  if (report.status === "Completed" && report.file) {
    const file = report.file;
    return el(
      "p",
      { class: "outcome" },
      `${formatCount(file.rows)} rows · ${formatBytes(file.sizeBytes)}`,
      report.expiresAt ? [" · available until ", time(report.expiresAt)] : null,
    );
  }
  if (report.status === "Failed") {
    const error = report.error || {};
    return el(
      "p",
      { class: "outcome error-message" },
      el("strong", {}, "Failed"),
      error.code ? ` (${error.code})` : "",
      `: ${error.message || "no reason given"}`,
    );
  }
  if (report.status === "Expired") return el("p", { class: "outcome" }, "Expired: the file was deleted when its retention ended.");
  if (report.status === "Cancelled") return el("p", { class: "outcome" }, "Cancelled; no file was made.");
  if (report.status === "Pending") {
    return el("p", { class: "outcome" }, report.cancelRequested ? "Cancelling…" : "Waiting for a worker…");
  }
  return report.cancelRequested ? el("p", { class: "outcome" }, "Cancelling…") : null;
}

// A run of a saved definition says so, and what made it: its schedule, or Run now.
function triggerLine(report, definitionName) {
  if (!report.trigger || report.trigger === "request") return null;
  const of = definitionName ? ` of “${definitionName}”` : " of a saved definition";
  if (report.trigger === "schedule") {
    return el(
      "p",
      { class: "trigger", dataset: { trigger: "schedule" } },
      el("span", { class: "tag" }, "Scheduled run"),
      of,
      report.scheduledFor ? [", for ", el("time", { datetime: report.scheduledFor }, formatRun(report.scheduledFor))] : null,
    );
  }
  const label = report.trigger === "generate" ? "Run now" : report.trigger;
  return el("p", { class: "trigger", dataset: { trigger: report.trigger } }, el("span", { class: "tag" }, label), of);
}

// actions: { download, cancel, runAgain, copyCurl }, each called with the report, and
// sendAgain(report, delivery);
// definitionName: the saved definition the report is a run of, when known.
export function renderReport(report, typeTitle, actions, definitionName = null) {
  const id = report.reportId;
  const ids = { title: `title-${id}`, progressLabel: `progress-label-${id}`, progressText: `progress-text-${id}` };
  const button = (action, label, handler) =>
    el("button", { type: "button", dataset: { action }, "aria-describedby": ids.title, onclick: () => handler(report) }, label);
  const buttons = [];
  if (report.status === "Completed") buttons.push(button("download", "Download", actions.download));
  if (ACTIVE.has(report.status) && !report.cancelRequested) buttons.push(button("cancel", "Cancel", actions.cancel));
  if (FINISHED.has(report.status)) buttons.push(button("run-again", "Run again", actions.runAgain));
  buttons.push(button("copy-curl", "Copy as curl", actions.copyCurl));

  const duration = durationLine(report);
  return el(
    "article",
    { class: "report", "aria-labelledby": ids.title, tabindex: "-1" },
    el(
      "div",
      { class: "report-head" },
      el("h3", { id: ids.title }, typeTitle, " ", el("span", { class: "format" }, report.format)),
      badge(report.status.toLowerCase(), BADGES[report.status] || "•", report.status, { status: report.status }),
    ),
    triggerLine(report, definitionName),
    el("p", { class: "parameters" }, summarizeParameters(report.parameters)),
    el(
      "p",
      { class: "meta" },
      "Created ",
      time(report.createdAt),
      duration ? ` · ${duration}` : "",
      " · id ",
      el("code", { class: "report-id" }, id),
    ),
    report.status === "Processing" ? progressBlock(report, ids) : null,
    outcome(report),
    renderDeliveries(report, ids.title, (delivery) => actions.sendAgain(report, delivery)),
    el("div", { class: "actions" }, buttons),
    el("div", { class: "curl-box", hidden: true }),
  );
}
