// "Save as a definition": the request form's type, format and parameters plus a name, a
// period in place of the date range, and a schedule (a preset at a time of day, or cron) in
// a time zone, whose next runs and daylight-saving effects are shown before saving.

import { el, setText, show } from "./dom.js";
import { cronForPreset, daylightSavingNotes, PERIODS, PRESETS } from "./schedule.js";
import { runTimeItems } from "./definition-row.js";
import { DeliveryFields } from "./delivery-fields.js";

const PREVIEW_DELAY_MS = 300; // typing a cron: ask once the person pauses
// Where the API's 422 names a field of this panel: its input and its error line.
const OWN_FIELDS = {
  name: ["definition-name", "error-definition-name"],
  period: ["definition-period", "error-definition-period"],
  "schedule.cron": ["schedule-cron", "error-schedule-cron"],
  "schedule.timezone": ["schedule-timezone", "error-schedule-timezone"],
};

export function browserZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

function byId(id) {
  return document.getElementById(id);
}

export class DefinitionForm {
  // requestForm: the RequestForm whose type, format and parameters are saved; onSaved(def).
  constructor(api, requestForm, { announce, onSaved }) {
    this.api = api;
    this.requestForm = requestForm;
    this.announce = announce;
    this.onSaved = onSaved;
    this.open = false;
    this.previewSequence = 0;
    this.previewTimer = null;
    this.panel = byId("definition-fields");
    this.toggle = byId("definition-toggle");
    this.saveButton = byId("definition-save");
    this.requestButton = byId("request-submit");
    this.name = byId("definition-name");
    this.period = byId("definition-period");
    this.periodHint = byId("definition-period-hint");
    this.preset = byId("schedule-preset");
    this.time = byId("schedule-time");
    this.cron = byId("schedule-cron");
    this.timezone = byId("schedule-timezone");
    this.errorsBox = byId("definition-errors");
    this.deliveries = new DeliveryFields(byId("delivery-fields"), "delivery", { announce });
    this.period.append(...PERIODS.map((period) => el("option", { value: period.value }, period.label)));
    this.preset.append(...PRESETS.map((preset) => el("option", { value: preset.value }, preset.label)));
    const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
    byId("timezones").replaceChildren(...[...new Set(["UTC", ...zones])].map((zone) => el("option", { value: zone })));
    this.timezone.value = browserZone();

    this.toggle.addEventListener("click", () => this.setOpen(!this.open));
    this.period.addEventListener("change", () => this.applyPeriod());
    this.preset.addEventListener("change", () => this.scheduleChanged());
    for (const input of [this.time, this.cron, this.timezone]) {
      input.addEventListener("input", () => this.scheduleChanged());
    }
    requestForm.onTypeSelected = () => this.typeChanged();
  }

  // What the person may add: S3 and SFTP deliveries are an admin's.
  setRoles(roles) {
    this.deliveries.setRoles(roles);
  }

  setOpen(open, { quiet = false } = {}) {
    this.open = open;
    show(this.panel, open);
    show(this.saveButton, open);
    show(this.requestButton, !open);
    this.toggle.setAttribute("aria-expanded", String(open));
    setText(this.toggle, open ? "Back to a one-off request" : "Save as a definition…");
    this.requestForm.alternateSubmit = open ? () => this.save() : null;
    this.applyPeriod();
    if (open) {
      this.scheduleChanged();
      this.name.focus();
    }
    if (!quiet) this.announce(open ? "The form now saves a definition." : "The form now requests a report once.");
  }

  rangeParameters() {
    const type = this.requestForm.currentType();
    return (type && type.rangeParameters) || null;
  }

  typeChanged() {
    const range = this.rangeParameters();
    this.period.disabled = !range;
    if (!range) this.period.value = "";
    setText(
      this.periodHint,
      range
        ? "A period takes the place of the date range above: each run covers it, counted from the day it runs."
        : "This report type has no date range for a period to fill.",
    );
    this.applyPeriod();
  }

  // A period hides the date range inputs, but only while the form saves a definition.
  applyPeriod() {
    const range = this.rangeParameters();
    if (!range) return;
    this.requestForm.parameters.setHidden(range, this.open && Boolean(this.period.value));
  }

  // The schedule as the API takes it: null for none, else { cron, timezone } (cron null when
  // the time of day is missing).
  schedule() {
    const preset = this.preset.value;
    if (!preset) return null;
    const cron = preset === "custom" ? this.cron.value.trim() : cronForPreset(preset, this.time.value);
    return { cron, timezone: this.timezone.value.trim() };
  }

  scheduleChanged() {
    const preset = this.preset.value;
    show(byId("schedule-time-field"), Boolean(preset) && preset !== "custom");
    show(byId("schedule-cron-field"), preset === "custom");
    show(byId("schedule-timezone-field"), Boolean(preset));
    window.clearTimeout(this.previewTimer);
    this.previewTimer = window.setTimeout(() => this.preview(), PREVIEW_DELAY_MS);
  }

  async preview() {
    const sequence = ++this.previewSequence;
    const box = byId("schedule-preview");
    const schedule = this.schedule();
    for (const key of ["schedule.cron", "schedule.timezone"]) this.fieldError(key, null);
    if (!schedule || !schedule.cron || !schedule.timezone) {
      show(box, false);
      return;
    }
    let answer;
    try {
      answer = await this.api.schedulePreview(schedule.cron, schedule.timezone);
    } catch (error) {
      if (sequence !== this.previewSequence) return;
      show(box, false);
      const errors = (error.problem && error.problem.errors) || {};
      if (error.status === 422 && (errors.cron || errors.timezone)) {
        if (errors.cron) this.fieldError("schedule.cron", errors.cron, this.preset.value !== "custom");
        if (errors.timezone) this.fieldError("schedule.timezone", errors.timezone);
      } else if (error.status !== 401) {
        this.fieldError("schedule.cron", [`No preview: ${error.message}`], this.preset.value !== "custom");
      }
      return;
    }
    if (sequence !== this.previewSequence) return; // a newer schedule was typed meanwhile
    const instants = answer.instants || [];
    setText(byId("schedule-description"), `${answer.description}.`);
    byId("schedule-runs").replaceChildren(...runTimeItems(instants));
    const wallTime = this.preset.value === "custom" ? null : this.time.value;
    const notes = daylightSavingNotes(instants, { wallTime, timezone: answer.timezone });
    byId("schedule-dst").replaceChildren(...notes.map((note) => el("li", {}, note)));
    show(box);
  }

  // messages: a list, or null to clear; onTime: a preset's cron error belongs to its time.
  fieldError(key, messages, onTime = false) {
    const [inputId, errorId] = onTime ? ["schedule-time", "error-schedule-time"] : OWN_FIELDS[key];
    const input = byId(inputId);
    const error = byId(errorId);
    if (key === "schedule.cron" && !onTime && !messages) this.fieldError(key, null, true);
    setText(error, messages ? messages.join(" ") : "");
    show(error, Boolean(messages));
    if (messages) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
    return input;
  }

  async body() {
    const parameters = this.requestForm.parameters.values();
    const body = {
      name: this.name.value.trim(),
      reportType: this.requestForm.typeSelect.value,
      format: this.requestForm.formatSelect.value,
      parameters,
      schedule: this.schedule(),
      ...(await this.deliveries.body()),
    };
    if (this.period.value && this.rangeParameters()) {
      body.period = this.period.value;
      for (const name of this.rangeParameters()) delete parameters[name];
    }
    return body;
  }

  clearMessages() {
    this.requestForm.clearMessages();
    for (const key of Object.keys(OWN_FIELDS)) this.fieldError(key, null);
    this.deliveries.clearErrors();
    this.errorsBox.replaceChildren();
    show(this.errorsBox, false);
  }

  async save() {
    this.clearMessages();
    const body = await this.body();
    if (!body.name) {
      this.fieldError("name", ["Give the definition a name."]).focus();
      this.announce("The definition needs a name.");
      return;
    }
    if (body.schedule && !body.schedule.cron) {
      this.fieldError("schedule.cron", ["Choose a time of day."], true).focus();
      this.announce("The schedule needs a time of day.");
      return;
    }
    this.saveButton.disabled = true;
    try {
      const saved = await this.api.createDefinition(body);
      this.name.value = "";
      this.deliveries.reset();
      this.setOpen(false, { quiet: true });
      this.requestForm.result(`Saved the definition “${saved.name}”.`);
      this.announce(`Saved the definition ${saved.name}.`);
      await this.onSaved(saved);
    } catch (error) {
      this.failed(error);
    } finally {
      this.saveButton.disabled = false;
    }
  }

  failed(error) {
    const problem = error.problem || {};
    if (error.status !== 422 || !problem.errors) {
      if (error.status === 401) return;
      this.errors([`${problem.title || "Error"}: ${error.message}`]);
      this.announce(`The definition was not saved: ${error.message}`);
      (error.status === 409 ? this.name : this.saveButton).focus();
      return;
    }
    const others = {};
    const deliveryErrors = {};
    let first = null;
    for (const [key, messages] of Object.entries(problem.errors)) {
      const list = Array.isArray(messages) ? messages.map(String) : [String(messages)];
      if (this.deliveries.owns(key)) {
        deliveryErrors[key] = list;
      } else if (key in OWN_FIELDS) {
        const onTime = key === "schedule.cron" && this.preset.value !== "custom";
        const input = this.fieldError(key, list, onTime);
        first = first || input;
      } else {
        others[key] = list;
      }
    }
    first = first || this.deliveries.showErrors(deliveryErrors);
    if (Object.keys(others).length) this.requestForm.showFieldErrors(others);
    const count = Object.keys(problem.errors).length;
    this.announce(`The definition has ${count} invalid field${count === 1 ? "" : "s"}.`);
    if (first) first.focus();
  }

  errors(lines) {
    this.errorsBox.replaceChildren(el("ul", {}, lines.map((line) => el("li", {}, line))));
    show(this.errorsBox);
  }
}
