// One saved definition as DOM nodes: name, type, period, schedule in words, next runs in the
// person's zone, active or paused (and why), its last run, and its actions. All as text.

import { badge, el } from "./dom.js";
import { formatRun, summarizeParameters } from "./format.js";
import { PERIODS } from "./schedule.js";

const PERIOD_LABELS = new Map(PERIODS.map((period) => [period.value, period.label]));

// Scheduled instants as list items, each shown in the person's zone (or UTC).
export function runTimeItems(instants) {
  return (instants || []).map((instant) => el("li", {}, el("time", { datetime: instant }, formatRun(instant))));
}

function scheduleLine(definition, description) {
  if (!definition.schedule) return "No schedule: it runs when you press Run now.";
  const words = description || `${definition.schedule.cron} (${definition.schedule.timezone})`;
  return `Schedule: ${words}.`;
}

function stateLine(definition) {
  if (definition.active) return null;
  return el(
    "p",
    { class: "paused-reason" },
    el("strong", {}, "Paused"),
    `: ${definition.pausedReason || "paused by hand; Resume to run it on schedule again."}`,
  );
}

// Where each run goes besides the history, by the members that say where: never a secret
// (the API shows those as a mask, and this line does not read them).
export function targetText(target) {
  if (target.kind === "email") return `e-mail to ${(target.recipients || []).join(", ")}`;
  if (target.kind === "s3") return `S3 bucket ${target.bucket}${target.prefix ? `/${target.prefix}` : ""}`;
  if (target.kind === "sftp") return `SFTP to ${target.username}@${target.host}:${target.path || "."}`;
  return null;
}

const SEND_WHEN_WORDS = { always: "", hasRows: " (when a run has rows)", changed: " (when the file changed)" };

function deliveriesLine(definition) {
  const targets = (definition.deliveries || []).map(targetText).filter(Boolean);
  if (!targets.length) return null;
  return el("p", { class: "delivery-targets" }, `Delivered: ${targets.join("; ")}${SEND_WHEN_WORDS[definition.sendWhen] || ""}.`);
}

function lastRunLine(definition) {
  const run = definition.lastRun;
  if (!run) return el("p", { class: "meta" }, "No run yet.");
  const how = run.trigger === "schedule" ? "scheduled" : run.trigger === "generate" ? "run now" : run.trigger;
  return el(
    "p",
    { class: "meta" },
    `Last run: ${run.status} (${how}`,
    run.scheduledFor ? [", for ", el("time", { datetime: run.scheduledFor }, formatRun(run.scheduledFor))] : null,
    ")",
  );
}

// actions: { runNow, setActive, showRuns, editDeliveries, remove }, each called with the
// definition.
// description: the schedule in words (from /schedules/preview), when known.
export function renderDefinition(definition, { typeTitle, description, actions }) {
  const id = definition.definitionId;
  const titleId = `definition-title-${id}`;
  const button = (action, label, handler, extra = {}) =>
    el(
      "button",
      { type: "button", dataset: { action }, "aria-describedby": titleId, onclick: () => handler(definition), ...extra },
      label,
    );
  const nextRuns = definition.active ? definition.nextRuns || [] : [];
  const runsTitleId = `definition-runs-${id}`;
  return el(
    "article",
    { class: "report definition", "aria-labelledby": titleId, tabindex: "-1" },
    el(
      "div",
      { class: "report-head" },
      el("h3", { id: titleId }, definition.name, " ", el("span", { class: "format" }, definition.format)),
      definition.active
        ? badge("completed", "▶", "Active", { state: "active" })
        : badge("cancelled", "⏸", "Paused", { state: "paused" }),
    ),
    el(
      "p",
      {},
      typeTitle,
      " · ",
      definition.period ? `period: ${PERIOD_LABELS.get(definition.period) || definition.period}` : "fixed parameters",
    ),
    el("p", { class: "parameters" }, summarizeParameters(definition.parameters)),
    el("p", { class: "schedule-line" }, scheduleLine(definition, description)),
    stateLine(definition),
    nextRuns.length
      ? el(
          "div",
          { class: "next-runs" },
          el("p", { id: runsTitleId, class: "small-heading" }, "Next runs, in your time zone:"),
          el("ol", { class: "run-times", "aria-labelledby": runsTitleId }, runTimeItems(nextRuns)),
        )
      : null,
    deliveriesLine(definition),
    lastRunLine(definition),
    el(
      "div",
      { class: "actions" },
      button("run-now", "Run now", actions.runNow),
      definition.active
        ? button("pause", "Pause", (d) => actions.setActive(d, false))
        : button("resume", "Resume", (d) => actions.setActive(d, true)),
      button("show-runs", "Show its runs", actions.showRuns),
      button("edit-deliveries", "Deliveries…", actions.editDeliveries),
      button("delete", "Delete…", actions.remove),
    ),
    el("div", { class: "edit-box", hidden: true }),
    el("div", { class: "confirm-box", hidden: true }),
  );
}
