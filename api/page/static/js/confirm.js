// An inline confirmation in a row's .confirm-box: the question, the button that does it, and
// "Keep it", focused first so that a second Enter never deletes; keeping it puts the keyboard
// back on the row's Delete… button.

import { el } from "./dom.js";

export function confirmInline(item, { questionId, question, confirmLabel, onConfirm }) {
  const box = item.querySelector(".confirm-box");
  const keep = el(
    "button",
    {
      type: "button",
      dataset: { action: "keep" },
      "aria-describedby": questionId,
      onclick: () => {
        box.replaceChildren();
        box.hidden = true;
        item.querySelector('[data-action="delete"]').focus();
      },
    },
    "Keep it",
  );
  box.replaceChildren(
    el("p", { id: questionId }, question),
    el(
      "div",
      { class: "actions" },
      el("button", { type: "button", class: "danger", dataset: { action: "confirm-delete" }, "aria-describedby": questionId, onclick: onConfirm }, confirmLabel),
      keep,
    ),
  );
  box.hidden = false;
  keep.focus();
}
