// Inputs generated from a JSON Schema (a report type's parameters), with nothing known in
// advance about any report type: dates become date pickers, enums selects, arrays of enums
// checkboxes, integers number fields with their bounds; optional fields say so.

import { el, setText } from "./dom.js";
import { humanize } from "./format.js";

function typeOf(property) {
  const type = Array.isArray(property.type) ? property.type.find((t) => t !== "null") : property.type;
  if (type === "array" && property.items && Array.isArray(property.items.enum)) return "multi";
  if (Array.isArray(property.enum)) return "enum";
  if (type === "string" && property.format === "date") return "date";
  if (type === "integer" || type === "number") return type;
  if (type === "boolean") return "boolean";
  return "text";
}

function fieldId(name) {
  return `param-${name}`;
}

function hintFor(kind, property) {
  const parts = [];
  if (property.description) parts.push(property.description);
  if (kind === "integer" || kind === "number") {
    const low = property.minimum ?? property.exclusiveMinimum;
    const high = property.maximum ?? property.exclusiveMaximum;
    if (low !== undefined && high !== undefined) parts.push(`From ${low} to ${high}.`);
    else if (low !== undefined) parts.push(`At least ${low}.`);
    else if (high !== undefined) parts.push(`At most ${high}.`);
  }
  if (kind === "text" && property.maxLength !== undefined) parts.push(`Up to ${property.maxLength} characters.`);
  if (property.default !== undefined && kind !== "multi") parts.push(`Default: ${property.default}.`);
  if (kind === "multi" && !property.description) parts.push("None ticked means all, in this order.");
  return parts.join(" ");
}

export class SchemaForm {
  constructor(container) {
    this.container = container;
    this.fields = new Map(); // name → { kind, property, input(s), error }
  }

  render(schema) {
    this.fields.clear();
    this.container.replaceChildren();
    const properties = (schema && schema.properties) || {};
    const required = new Set((schema && schema.required) || []);
    // Required fields first, in the schema's order of `required`; JSON objects carry no
    // reliable order of their own (the API sorts keys).
    const names = [
      ...[...required].filter((name) => name in properties),
      ...Object.keys(properties).filter((name) => !required.has(name)),
    ];
    if (!names.length) this.container.append(el("p", { class: "hint" }, "This report type takes no parameters."));
    for (const name of names) {
      this.container.append(this.renderField(name, properties[name], required.has(name)));
    }
  }

  renderField(name, property, isRequired) {
    const kind = typeOf(property);
    const id = fieldId(name);
    const errorId = `error-${id}`;
    const hintId = `hint-${id}`;
    const title = property.title || humanize(name);
    const hintText = hintFor(kind, property);
    const hint = hintText ? el("p", { class: "hint", id: hintId }, hintText) : null;
    const error = el("p", { class: "field-error", id: errorId, hidden: true });
    const describedBy = [hint ? hintId : null, errorId].filter(Boolean).join(" ");
    const marker = isRequired ? el("span", { class: "required" }, " (required)") : el("span", { class: "optional" }, " (optional)");
    const field = { kind, property, error, inputs: [], required: isRequired };
    this.fields.set(name, field);

    if (kind === "multi") {
      const options = property.items.enum.map((value) => {
        const input = el("input", { type: "checkbox", name, value, id: `${id}-${value}` });
        field.inputs.push(input);
        return el("li", {}, el("label", { class: "check" }, input, ` ${value}`));
      });
      return el(
        "fieldset",
        { class: "field field-group", "aria-describedby": describedBy, dataset: { parameter: name } },
        el("legend", {}, title, marker),
        hint,
        el("ul", { class: "checkbox-list" }, options),
        error,
      );
    }

    let input;
    if (kind === "enum") {
      const choices = property.enum.map((value) => el("option", { value }, String(value)));
      const empty = isRequired && property.default === undefined ? "Choose…" : property.default !== undefined ? `Default (${property.default})` : "Any";
      input = el("select", { id, name }, el("option", { value: "" }, empty), choices);
    } else if (kind === "boolean") {
      input = el("input", { id, name, type: "checkbox" });
    } else {
      const attributes = { id, name, autocomplete: "off" };
      if (kind === "date") attributes.type = "date";
      else if (kind === "integer" || kind === "number") {
        Object.assign(attributes, { type: "number", inputmode: "numeric", step: kind === "integer" ? 1 : "any" });
        if (property.minimum !== undefined) attributes.min = property.minimum;
        if (property.maximum !== undefined) attributes.max = property.maximum;
        if (property.default !== undefined) attributes.placeholder = String(property.default);
      } else {
        attributes.type = "text";
        attributes.spellcheck = "false";
        if (property.maxLength !== undefined) attributes.maxlength = property.maxLength;
        if (property.default !== undefined) attributes.placeholder = String(property.default);
      }
      input = el("input", attributes);
    }
    input.setAttribute("aria-describedby", describedBy);
    if (isRequired) input.setAttribute("aria-required", "true");
    field.inputs.push(input);
    const wrapper = { class: "field", dataset: { parameter: name } };
    if (kind === "boolean") {
      return el("div", wrapper, el("label", { class: "check", for: id }, input, " ", title, marker), hint, error);
    }
    return el("div", wrapper, el("label", { for: id }, title, marker), hint, input, error);
  }

  // What was entered, as the API takes it; empty fields are left out (the API's defaults apply).
  values() {
    const values = {};
    for (const [name, field] of this.fields) {
      const [input] = field.inputs;
      if (field.kind === "multi") {
        const ticked = field.inputs.filter((box) => box.checked).map((box) => box.value);
        if (ticked.length) values[name] = ticked;
      } else if (field.kind === "boolean") {
        if (input.checked) values[name] = true;
      } else if (field.kind === "integer" || field.kind === "number") {
        if (input.value !== "") values[name] = Number(input.value);
        else if (input.validity && input.validity.badInput) values[name] = "not a number";
      } else if (input.value !== "") {
        values[name] = input.value;
      }
    }
    return values;
  }

  // Fill the inputs from a report's stored parameters (Run again).
  setValues(values) {
    for (const [name, field] of this.fields) {
      const value = values ? values[name] : undefined;
      if (field.kind === "multi") {
        const wanted = new Set(Array.isArray(value) ? value.map(String) : []);
        for (const box of field.inputs) box.checked = wanted.has(box.value);
      } else if (field.kind === "boolean") {
        field.inputs[0].checked = value === true;
      } else {
        field.inputs[0].value = value === undefined || value === null ? "" : String(value);
      }
    }
  }

  // Hide these fields (a definition's period takes the place of the date range) or show
  // them again; what they hold is kept.
  setHidden(names, hidden) {
    for (const name of names || []) {
      const wrapper = this.container.querySelector(`[data-parameter="${CSS.escape(name)}"]`);
      if (wrapper) wrapper.hidden = hidden;
    }
  }

  clearErrors() {
    for (const field of this.fields.values()) {
      setText(field.error, "");
      field.error.hidden = true;
      for (const input of field.inputs) input.removeAttribute("aria-invalid");
    }
  }

  // Messages for known fields go beside them; the rest are returned for the form to show.
  showErrors(messagesByField) {
    const unplaced = {};
    let first = null;
    for (const [name, messages] of Object.entries(messagesByField)) {
      const field = this.fields.get(name);
      if (!field) {
        unplaced[name] = messages;
        continue;
      }
      setText(field.error, messages.join(" "));
      field.error.hidden = false;
      for (const input of field.inputs) input.setAttribute("aria-invalid", "true");
      first = first || field.inputs[0];
    }
    return { unplaced, first };
  }
}
