// One webhook endpoint as DOM nodes (URL, state and why, what it receives, its actions) and
// its recent messages; and when to ask for those messages again. All as text.

import { badge, el } from "./dom.js";
import { formatTime } from "./format.js";

const MESSAGE_BADGES = {
  pending: ["pending", "◷", "Pending"],
  delivered: ["completed", "✓", "Delivered"],
  failed: ["failed", "✕", "Failed"],
};
// A pending message due this soon is watched (the dispatcher sends it within seconds); one
// due later is left to the Refresh button rather than asked about every second meanwhile.
const WATCH_AHEAD_MS = 60_000;
const FAST_POLL_MS = 1000;
const SLOW_POLL_MS = 5000;
const OVERDUE_MS = 30_000; // long overdue: no dispatcher is sending just now; ask less often

function time(iso) {
  return el("time", { datetime: iso }, formatTime(iso));
}

// Milliseconds until the messages are worth asking for again, or null: nothing is on its way.
export function messagePollDelay(messages, now = Date.now()) {
  const due = (messages || [])
    .filter((message) => message.status === "pending")
    .map((message) => (message.nextAttemptAt ? Date.parse(message.nextAttemptAt) : now));
  if (!due.length) return null;
  const wait = Math.min(...due) - now;
  if (wait > WATCH_AHEAD_MS) return null;
  if (wait < -OVERDUE_MS) return SLOW_POLL_MS;
  return Math.max(FAST_POLL_MS, wait);
}

function stateLines(endpoint) {
  const lines = [];
  if (endpoint.disabled) {
    lines.push(
      el(
        "p",
        { class: "paused-reason" },
        el("strong", {}, "Disabled"),
        `: ${endpoint.disabledReason || "disabled"}. Nothing is sent to it until it is enabled again.`,
      ),
    );
  } else if (endpoint.failingSince) {
    lines.push(el("p", { class: "paused-reason" }, "Failing since ", time(endpoint.failingSince), "; it is disabled if nothing gets through for days."));
  }
  if (endpoint.previousSecretExpiresAt) {
    lines.push(el("p", { class: "meta" }, "The previous secret also signs until ", time(endpoint.previousSecretExpiresAt), "."));
  }
  return lines;
}

// actions: { test, rotate, setDisabled, toggleMessages, remove }, each given the endpoint.
// typeTitle(name): a report type's title. messagesOpen: whether its messages are shown.
export function renderEndpoint(endpoint, { actions, typeTitle, messagesOpen }) {
  const id = endpoint.endpointId;
  const titleId = `webhook-title-${id}`;
  const messagesId = `webhook-messages-${id}`;
  const button = (action, label, handler, extra = {}) =>
    el("button", { type: "button", dataset: { action }, "aria-describedby": titleId, onclick: () => handler(endpoint), ...extra }, label);
  const reportTypes = endpoint.reportTypes || [];
  return el(
    "article",
    { class: "report webhook", "aria-labelledby": titleId, tabindex: "-1" },
    el(
      "div",
      { class: "report-head" },
      el("h3", { id: titleId, class: "webhook-url" }, endpoint.url),
      endpoint.disabled
        ? badge("cancelled", "⊘", "Disabled", { state: "disabled" })
        : badge("completed", "✓", "Enabled", { state: "enabled" }),
    ),
    endpoint.description ? el("p", {}, endpoint.description) : null,
    el("p", { class: "meta" }, "Events: ", (endpoint.eventTypes || []).join(", ")),
    el(
      "p",
      { class: "meta" },
      "Report types: ",
      reportTypes.length ? reportTypes.map(typeTitle).join(", ") : "all",
      " · ",
      endpoint.includeDownloadUrl ? "with a download URL" : "no download URL",
    ),
    stateLines(endpoint),
    el(
      "div",
      { class: "actions" },
      endpoint.disabled ? null : button("test", "Send test event", actions.test),
      button("rotate", "Rotate secret", actions.rotate),
      endpoint.disabled
        ? button("enable", "Enable", (e) => actions.setDisabled(e, false))
        : button("disable", "Disable", (e) => actions.setDisabled(e, true)),
      button("messages", "Recent messages", actions.toggleMessages, { "aria-expanded": String(messagesOpen), "aria-controls": messagesId }),
      button("delete", "Delete…", actions.remove),
    ),
    el("div", { class: "confirm-box", hidden: true }),
    el("div", { id: messagesId, class: "messages", hidden: !messagesOpen }),
  );
}

function messageItem(endpoint, message, retry) {
  const labelId = `webhook-message-${message.messageId}`;
  const [kind, symbol, word] = MESSAGE_BADGES[message.status] || ["cancelled", "•", message.status];
  const facts = [`${message.attempts} attempt${message.attempts === 1 ? "" : "s"}`];
  if (message.lastStatusCode !== null && message.lastStatusCode !== undefined) facts.push(`last answer HTTP ${message.lastStatusCode}`);
  return el(
    "li",
    { class: "message", dataset: { messageId: message.messageId, status: message.status } },
    el(
      "div",
      { class: "report-head" },
      el("p", { id: labelId }, el("code", {}, message.eventType), " of ", time(message.occurredAt)),
      badge(kind, symbol, word),
    ),
    el(
      "p",
      { class: "meta" },
      facts.join(" · "),
      message.deliveredAt ? [" · delivered ", time(message.deliveredAt)] : null,
      message.nextAttemptAt ? [" · next attempt ", time(message.nextAttemptAt)] : null,
    ),
    message.lastError ? el("p", { class: "error-message" }, `Last error: ${message.lastError}`) : null,
    el(
      "div",
      { class: "actions" },
      el(
        "button",
        { type: "button", dataset: { action: "retry" }, "aria-describedby": labelId, disabled: endpoint.disabled, onclick: () => retry(endpoint, message) },
        "Retry now",
      ),
    ),
  );
}

// The messages panel's content: a heading, Refresh, and the messages newest first.
export function renderMessages(endpoint, messages, { refresh, retry }) {
  const headingId = `webhook-messages-title-${endpoint.endpointId}`;
  return [
    el(
      "div",
      { class: "report-head" },
      el("h4", { id: headingId, class: "small-heading" }, "Recent messages"),
      el("button", { type: "button", dataset: { action: "refresh" }, "aria-describedby": headingId, onclick: () => refresh(endpoint) }, "Refresh"),
    ),
    messages.length
      ? el("ol", { class: "message-list", "aria-labelledby": headingId }, messages.map((message) => messageItem(endpoint, message, retry)))
      : el("p", { class: "quiet" }, "No messages yet: Send test event sends one."),
  ];
}
