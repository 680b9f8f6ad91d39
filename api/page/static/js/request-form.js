// The request form: report types from GET /api/v1/report-types, parameters from their JSON
// Schema, errors from the API's problem details shown beside the fields they name.

import { el, setText } from "./dom.js";
import { SchemaForm } from "./schema-form.js";

const PARAMETER_PREFIX = "parameters.";

export class RequestForm {
  constructor(api, { announce, onRequested, showReport }) {
    this.api = api;
    this.announce = announce;
    this.onRequested = onRequested;
    this.showReport = showReport;
    this.form = document.getElementById("request-form");
    this.typeSelect = document.getElementById("report-type");
    this.typeDescription = document.getElementById("report-type-description");
    this.formatSelect = document.getElementById("report-format");
    this.formatError = document.getElementById("error-format");
    this.errorsBox = document.getElementById("form-errors");
    this.resultBox = document.getElementById("form-result");
    this.submitButton = document.getElementById("request-submit");
    this.parameters = new SchemaForm(document.getElementById("parameter-fields"));
    this.types = new Map();
    // Set by the definition form: what a new type means for it, and the submit it takes over
    // while the form is in "Save as a definition" mode.
    this.onTypeSelected = () => {};
    this.alternateSubmit = null;
    this.typeSelect.addEventListener("change", () => this.selectType(this.typeSelect.value));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (this.alternateSubmit) this.alternateSubmit();
      else this.submit();
    });
  }

  load(types, roles) {
    this.types = new Map(types.map((type) => [type.name, type]));
    const allowed = (type) => !type.roles || !type.roles.length || type.roles.some((role) => roles.includes(role));
    this.typeSelect.replaceChildren(
      ...types.map((type) =>
        el(
          "option",
          { value: type.name, disabled: !allowed(type) },
          allowed(type) ? type.title || type.name : `${type.title || type.name} (needs ${type.roles.join(" or ")})`,
        ),
      ),
    );
    const first = types.find(allowed) || types[0];
    if (first) this.selectType(first.name);
  }

  selectType(name) {
    const type = this.types.get(name);
    if (!type) return;
    this.typeSelect.value = name;
    setText(this.typeDescription, type.description || "");
    this.parameters.render(type.parameters);
    const previous = this.formatSelect.value;
    this.formatSelect.replaceChildren(...(type.formats || []).map((format) => el("option", { value: format }, format)));
    if ((type.formats || []).includes(previous)) this.formatSelect.value = previous;
    this.clearMessages();
    this.onTypeSelected(type);
  }

  currentType() {
    return this.types.get(this.typeSelect.value) || null;
  }

  // Run again: the same type, format and parameters, ready to change or send.
  prefill(report) {
    if (!this.types.has(report.reportType)) return false;
    this.selectType(report.reportType);
    this.parameters.setValues(report.parameters || {});
    if ([...this.formatSelect.options].some((option) => option.value === report.format)) {
      this.formatSelect.value = report.format;
    }
    this.form.scrollIntoView({ block: "start" });
    this.typeSelect.focus();
    return true;
  }

  clearMessages() {
    this.parameters.clearErrors();
    setText(this.formatError, "");
    this.formatError.hidden = true;
    this.formatSelect.removeAttribute("aria-invalid");
    this.errorsBox.replaceChildren();
    this.errorsBox.hidden = true;
    this.resultBox.replaceChildren();
    this.resultBox.hidden = true;
  }

  async submit() {
    this.clearMessages();
    const reportType = this.typeSelect.value;
    const body = { format: this.formatSelect.value, parameters: this.parameters.values() };
    this.submitButton.disabled = true;
    try {
      const accepted = await this.api.requestReport(reportType, body);
      this.result("Requested: ", this.reportLink(accepted.reportId), ` (${accepted.status}).`);
      this.announce(`Report requested; it is ${accepted.status}.`);
      this.onRequested(accepted.reportId);
    } catch (error) {
      this.failed(error);
    } finally {
      this.submitButton.disabled = false;
    }
  }

  failed(error) {
    const problem = error.problem || {};
    if (error.status === 409 && problem.existingReportId) {
      this.result("An identical report is already in progress: ", this.reportLink(problem.existingReportId), ".");
      this.announce("An identical report is already in progress.");
      return;
    }
    if (error.status === 422 && problem.errors) {
      this.showFieldErrors(problem.errors);
      return;
    }
    const retry = error.status === 429 ? " Wait for one of your reports to finish, then try again." : "";
    this.errors([`${problem.title || "Error"}: ${error.message}${retry}`]);
  }

  // 422 errors of the type, format and parameters beside their fields; the rest in a list.
  showFieldErrors(errors) {
    const parameterErrors = {};
    const others = [];
    for (const [key, messages] of Object.entries(errors)) {
      const list = Array.isArray(messages) ? messages.map(String) : [String(messages)];
      if (key === "format") {
        setText(this.formatError, list.join(" "));
        this.formatError.hidden = false;
        this.formatSelect.setAttribute("aria-invalid", "true");
      } else if (key.startsWith(PARAMETER_PREFIX)) {
        const name = key.slice(PARAMETER_PREFIX.length).split(".")[0];
        parameterErrors[name] = (parameterErrors[name] || []).concat(list);
      } else {
        others.push(`${key === "parameters" || key === "_body" ? "Request" : key}: ${list.join(" ")}`);
      }
    }
    const { unplaced, first } = this.parameters.showErrors(parameterErrors);
    for (const [name, messages] of Object.entries(unplaced)) others.push(`${name}: ${messages.join(" ")}`);
    if (others.length) this.errors(others);
    const count = Object.keys(errors).length;
    this.announce(`The request has ${count} invalid field${count === 1 ? "" : "s"}.`);
    (first || (this.formatError.hidden ? null : this.formatSelect) || this.typeSelect).focus();
  }

  errors(lines) {
    this.errorsBox.replaceChildren(el("ul", {}, lines.map((line) => el("li", {}, line))));
    this.errorsBox.hidden = false;
  }

  result(...parts) {
    this.resultBox.replaceChildren(el("p", {}, parts));
    this.resultBox.hidden = false;
  }

  reportLink(reportId) {
    const url = new URL(window.location.href);
    url.search = new URLSearchParams({ id: reportId }).toString();
    return el(
      "a",
      {
        href: url.toString(),
        class: "report-link",
        onclick: (event) => {
          event.preventDefault();
          this.showReport(reportId);
        },
      },
      `report ${reportId}`,
    );
  }
}
