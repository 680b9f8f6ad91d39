// A run's deliveries as DOM nodes: each target's kind, status, attempts, last error and when
// it was delivered, and "Send again" on a Failed one. The API shows a run's deliveries
// without their targets, so no address or secret can reach the page from here.

import { badge, el } from "./dom.js";
import { formatTime } from "./format.js";

const KIND_LABELS = { email: "E-mail", s3: "S3", sftp: "SFTP" };
// A symbol beside the word, so colour is never the only signal.
const SYMBOLS = { Pending: "◷", Delivered: "✓", Failed: "✕", Skipped: "⊘" };
const BADGE_CLASSES = { Pending: "pending", Delivered: "completed", Failed: "failed", Skipped: "cancelled" };

function attemptsText(attempts) {
  return `${attempts} attempt${attempts === 1 ? "" : "s"}`;
}

function deliveryItem(delivery, titleId, sendAgain) {
  const label = KIND_LABELS[delivery.kind] || delivery.kind;
  const labelId = `delivery-label-${delivery.deliveryId}`;
  return el(
    "li",
    { class: "delivery", dataset: { deliveryId: delivery.deliveryId, kind: delivery.kind, status: delivery.status } },
    el(
      "p",
      {},
      el("span", { id: labelId, class: "tag" }, label),
      " ",
      badge(BADGE_CLASSES[delivery.status] || "pending", SYMBOLS[delivery.status] || "•", delivery.status),
      ` · ${attemptsText(delivery.attempts || 0)}`,
      delivery.deliveredAt ? [" · delivered ", el("time", { datetime: delivery.deliveredAt }, formatTime(delivery.deliveredAt))] : null,
    ),
    delivery.lastError ? el("p", { class: "delivery-error error-message" }, delivery.lastError) : null,
    delivery.status === "Failed"
      ? el(
          "button",
          { type: "button", dataset: { action: "send-again" }, "aria-describedby": `${labelId} ${titleId}`, onclick: () => sendAgain(delivery) },
          "Send again",
        )
      : null,
  );
}

// sendAgain(delivery): retry that one target. Nothing for a report without deliveries.
export function renderDeliveries(report, titleId, sendAgain) {
  const deliveries = report.deliveries || [];
  if (!deliveries.length) return null;
  const headingId = `deliveries-${report.reportId}`;
  return el(
    "div",
    { class: "deliveries" },
    el("p", { id: headingId, class: "small-heading" }, "Deliveries"),
    el("ul", { class: "delivery-list", "aria-labelledby": headingId }, deliveries.map((delivery) => deliveryItem(delivery, titleId, sendAgain))),
  );
}
