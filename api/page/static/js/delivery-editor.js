// A saved definition's deliveries, changed in place: its targets filled in (secrets empty:
// left so, the API keeps the saved ones), saved with PATCH {deliveries, sendWhen}.

import { el, show } from "./dom.js";
import { DeliveryFields } from "./delivery-fields.js";

export class DeliveryEditor {
  // onSaved(changed) after a save, onClose() after Cancel.
  constructor(api, definition, { roles, announce, onSaved, onClose }) {
    this.api = api;
    this.definition = definition;
    this.announce = announce;
    this.onSaved = onSaved;
    const id = definition.definitionId;
    const fieldset = el("fieldset", { class: "delivery-fields" }, el("legend", {}, `Deliveries of “${definition.name}”`));
    this.fields = new DeliveryFields(fieldset, `edit-${id}`, { announce });
    this.fields.setRoles(roles);
    this.fields.load(definition.deliveries, definition.sendWhen);
    this.errorsBox = el("div", { class: "notice notice-error", role: "alert", hidden: true });
    this.saveButton = el("button", { type: "button", dataset: { action: "save-deliveries" }, onclick: () => this.save() }, "Save deliveries");
    this.node = el(
      "div",
      { class: "delivery-editor" },
      fieldset,
      this.errorsBox,
      el("div", { class: "actions" }, this.saveButton, el("button", { type: "button", dataset: { action: "cancel-deliveries" }, onclick: () => onClose() }, "Cancel")),
    );
  }

  focus() {
    (this.node.querySelector("input, select") || this.saveButton).focus();
  }

  async save() {
    this.fields.clearErrors();
    show(this.errorsBox, false);
    this.saveButton.disabled = true;
    try {
      const changed = await this.api.changeDefinition(this.definition.definitionId, await this.fields.body());
      this.announce(`Saved the deliveries of ${changed.name}.`);
      await this.onSaved(changed);
    } catch (error) {
      this.failed(error);
    } finally {
      this.saveButton.disabled = false;
    }
  }

  failed(error) {
    if (error.status === 401) return;
    const problem = error.problem || {};
    const mine = {};
    const others = [];
    for (const [key, messages] of Object.entries((error.status === 422 && problem.errors) || {})) {
      const list = Array.isArray(messages) ? messages.map(String) : [String(messages)];
      if (this.fields.owns(key)) mine[key] = list;
      else others.push(`${key}: ${list.join(" ")}`);
    }
    if (!Object.keys(mine).length && !others.length) others.push(`${problem.title || "Error"}: ${error.message}`);
    const first = this.fields.showErrors(mine);
    if (others.length) {
      this.errorsBox.replaceChildren(el("ul", {}, others.map((line) => el("li", {}, line))));
      show(this.errorsBox);
    }
    this.announce(`The deliveries were not saved: ${others[0] || "see the fields marked."}`);
    (first || this.saveButton).focus();
  }
}
