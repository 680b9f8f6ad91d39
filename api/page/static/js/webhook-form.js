// "Add an endpoint": URL, description, the events (offered by the template from the API's own
// list), the report types (from the catalog; none ticked is all) and the download URL. What
// the API refuses (problem+json 422, the request-forgery guard's reason too) is shown beside
// the field it names.

import { byId, el, setText, show } from "./dom.js";

// Where the API's 422 names a field: the control to focus, and its error line.
const FIELDS = {
  url: ["webhook-url", "error-webhook-url"],
  eventTypes: ["webhook-event-types", "error-webhook-event-types"],
  reportTypes: ["webhook-report-types", "error-webhook-report-types"],
};

function ticked(container) {
  return [...container.querySelectorAll('input[type="checkbox"]:checked')].map((box) => box.value);
}

export class WebhookForm {
  // onCreated(created): the API's answer, with the secret it carries this once.
  constructor(api, { announce, onCreated }) {
    this.api = api;
    this.announce = announce;
    this.onCreated = onCreated;
    this.form = byId("webhook-form");
    this.url = byId("webhook-url");
    this.description = byId("webhook-description");
    this.events = byId("webhook-event-types");
    this.reportTypes = byId("webhook-report-type-list");
    this.downloadUrl = byId("webhook-download-url");
    this.errorsBox = byId("webhook-form-errors");
    this.submit = byId("webhook-add");
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
  }

  setTypes(types) {
    this.reportTypes.replaceChildren(
      ...types.map((type) =>
        el("li", {}, el("label", { class: "check" }, el("input", { type: "checkbox", name: "reportTypes", value: type.name }), " ", type.title || type.name)),
      ),
    );
  }

  body() {
    return {
      url: this.url.value.trim(),
      description: this.description.value.trim() || null,
      eventTypes: ticked(this.events),
      reportTypes: ticked(this.reportTypes),
      includeDownloadUrl: this.downloadUrl.checked,
    };
  }

  // messages: a list, or null to clear. The control to focus is returned.
  fieldError(key, messages) {
    const [controlId, errorId] = FIELDS[key];
    const control = byId(controlId);
    const error = byId(errorId);
    setText(error, messages ? messages.join(" ") : "");
    show(error, Boolean(messages));
    const input = control.matches("input") ? control : control.querySelector("input");
    if (control.matches("input")) {
      if (messages) control.setAttribute("aria-invalid", "true");
      else control.removeAttribute("aria-invalid");
    }
    return input;
  }

  clearMessages() {
    for (const key of Object.keys(FIELDS)) this.fieldError(key, null);
    this.errorsBox.replaceChildren();
    show(this.errorsBox, false);
  }

  reset() {
    this.form.reset();
    this.clearMessages();
  }

  async save() {
    this.clearMessages();
    const body = this.body();
    if (!body.url) {
      this.fieldError("url", ["Give the URL to send the events to."]).focus();
      this.announce("The endpoint needs a URL.");
      return;
    }
    if (!body.eventTypes.length) {
      this.fieldError("eventTypes", ["Tick at least one event."]).focus();
      this.announce("The endpoint needs at least one event.");
      return;
    }
    this.submit.disabled = true;
    try {
      const created = await this.api.createWebhookEndpoint(body);
      this.reset();
      await this.onCreated(created);
    } catch (error) {
      this.failed(error);
    } finally {
      this.submit.disabled = false;
    }
  }

  failed(error) {
    if (error.status === 401) return;
    const problem = error.problem || {};
    const others = [];
    let first = null;
    for (const [key, messages] of Object.entries((error.status === 422 && problem.errors) || {})) {
      const list = Array.isArray(messages) ? messages.map(String) : [String(messages)];
      const field = key.split(".")[0];
      if (field in FIELDS) first = first || this.fieldError(field, list);
      else others.push(`${key}: ${list.join(" ")}`);
    }
    if (!first && !others.length) others.push(`${problem.title || "Error"}: ${error.message}`);
    if (others.length) {
      this.errorsBox.replaceChildren(el("ul", {}, others.map((line) => el("li", {}, line))));
      show(this.errorsBox);
    }
    this.announce(`The endpoint was not added: ${error.message}`);
    (first || this.submit).focus();
  }
}
