// The deliveries of the definition form (DESIGN.md section 9): e-mail for everyone, S3 and
// SFTP for admins only (the API refuses them to others; the page does not offer them).
// Secrets are write-only: password inputs (a key file for SFTP) that start empty and are
// never filled from anything the API sent.

import { byId, el, setText, show } from "./dom.js";

const DEFAULT_SUBJECT = "{name} ({scheduledDate})";
const DEFAULT_KEY_TEMPLATE = "{definitionName}/{scheduledDate}/{fileName}";
const PREFIX = "deliveries.";

// Each kind's inputs, by the API's member names. `list`: several values in one input;
// `secret`: a password input; `file`: read as text (a private key keeps its line breaks,
// which an <input> would drop); `number`: sent as a number.
export const KINDS = {
  email: {
    label: "E-mail",
    adminOnly: false,
    fields: [
      { name: "recipients", label: "Recipients", list: true, hint: "1 to 20 addresses, separated by commas." },
      { name: "subject", label: "Subject", value: DEFAULT_SUBJECT, hint: "May use {name} and {scheduledDate}." },
      {
        name: "attach",
        label: "Attach the file",
        options: [
          ["auto", "Attach it when it is at most 10 MiB, else link to it"],
          ["never", "Never: link to the report in this page"],
        ],
      },
    ],
  },
  s3: {
    label: "S3 bucket",
    adminOnly: true,
    fields: [
      { name: "bucket", label: "Bucket" },
      { name: "prefix", label: "Prefix", optional: true, hint: "Optional: a folder in the bucket." },
      { name: "endpointUrl", label: "Endpoint URL", optional: true, hint: "Optional: empty for AWS; https for another store." },
      { name: "region", label: "Region", value: "us-east-1" },
      { name: "accessKeyId", label: "Access key id" },
      { name: "secretAccessKey", label: "Secret access key", secret: true },
      { name: "keyTemplate", label: "Key template", value: DEFAULT_KEY_TEMPLATE, hint: "May use {definitionName}, {scheduledDate} and {fileName}." },
    ],
  },
  sftp: {
    label: "SFTP server",
    adminOnly: true,
    fields: [
      { name: "host", label: "Host" },
      { name: "port", label: "Port", value: "22", number: true },
      { name: "username", label: "User name" },
      { name: "password", label: "Password", secret: true, optional: true, hint: "A password or a private key, not both." },
      { name: "privateKey", label: "Private key file", file: true, optional: true, hint: "OpenSSH or PEM; read here, sent once, never shown." },
      { name: "hostKeySha256", label: "Host key (SHA256)", hint: "As ssh-keygen -lf prints it, e.g. SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8." },
      { name: "path", label: "Directory", value: ".", hint: "Where the file goes on the server." },
    ],
  },
};

export const SEND_WHEN = [
  ["always", "After every completed run"],
  ["hasRows", "Only when the run has rows"],
  ["changed", "Only when the file differs from the last one delivered"],
];

// The values of a list input ("a@x.org, b@y.org") as the API takes them.
export function splitList(text) {
  return text.split(/[\s,;]+/).filter(Boolean);
}

// A problem+json key ("deliveries.0.recipients.1") as [target index, member, rest], or null.
export function deliveryKey(key) {
  if (key !== "deliveries" && !key.startsWith(PREFIX)) return null;
  const [index, member, ...rest] = key.slice(PREFIX.length).split(".");
  const position = /^\d+$/.test(index || "") ? Number(index) : null;
  return [position, member || null, rest.join(".") || null];
}

let counter = 0; // ids unique in the page, whatever is added and removed

class Target {
  constructor(kind, onRemove) {
    this.kind = kind;
    this.id = `delivery-${++counter}`;
    this.inputs = new Map(); // member → { input, error, spec }
    this.keyText = null; // a private key file's text, once read
    const spec = KINDS[kind];
    const titleId = `${this.id}-title`;
    this.generalError = el("p", { id: `${this.id}-error`, class: "field-error", hidden: true });
    this.node = el(
      "fieldset",
      { class: "delivery-target", dataset: { kind }, "aria-describedby": this.generalError.id },
      el("legend", { id: titleId }, spec.label),
      spec.fields.map((field) => this.field(field)),
      this.generalError,
      el("div", { class: "actions" }, el("button", { type: "button", dataset: { action: "remove-delivery" }, "aria-describedby": titleId, onclick: () => onRemove(this) }, "Remove")),
    );
  }

  field(spec) {
    const inputId = `${this.id}-${spec.name}`;
    const error = el("p", { id: `error-${inputId}`, class: "field-error", hidden: true });
    const hint = spec.hint ? el("p", { id: `hint-${inputId}`, class: "hint" }, spec.hint) : null;
    const described = [hint && hint.id, error.id].filter(Boolean).join(" ");
    let input;
    if (spec.options) {
      input = el("select", { id: inputId, "aria-describedby": described }, spec.options.map(([value, label]) => el("option", { value }, label)));
    } else if (spec.file) {
      input = el("input", { id: inputId, type: "file", "aria-describedby": described });
      input.addEventListener("change", () => this.readKey(input));
    } else {
      input = el("input", {
        id: inputId,
        type: spec.secret ? "password" : spec.number ? "number" : "text",
        autocomplete: spec.secret ? "new-password" : "off",
        spellcheck: "false",
        "aria-describedby": described,
        "aria-required": spec.optional ? null : "true",
      });
      if (spec.value) input.value = spec.value;
    }
    input.dataset.member = spec.name;
    this.inputs.set(spec.name, { input, error, spec });
    return el("div", { class: "field" }, el("label", { for: inputId }, spec.label), hint, input, error);
  }

  async readKey(input) {
    const file = input.files && input.files[0];
    this.keyText = file ? await file.text() : null;
  }

  // The target as the API takes it: empty optional members left out, so the API's defaults
  // apply; a secret left empty is left out too (the API then names it as missing).
  value() {
    const target = { kind: this.kind };
    for (const [name, { input, spec }] of this.inputs) {
      if (spec.file) {
        if (this.keyText) target[name] = this.keyText;
        continue;
      }
      const raw = input.value.trim();
      if (spec.list) target[name] = splitList(raw);
      else if (!raw) continue;
      else if (spec.number) target[name] = Number(raw);
      else target[name] = spec.secret ? input.value : raw;
    }
    return target;
  }

  // messages beside the member's input (null clears); an unknown member goes to the target.
  showError(member, messages) {
    const known = member && this.inputs.get(member);
    const error = known ? known.error : this.generalError;
    setText(error, messages ? messages.join(" ") : "");
    show(error, Boolean(messages));
    if (!known) return this.node.querySelector("input, select");
    if (messages) known.input.setAttribute("aria-invalid", "true");
    else known.input.removeAttribute("aria-invalid");
    return known.input;
  }

  clearErrors() {
    this.showError(null, null);
    for (const member of this.inputs.keys()) this.showError(member, null);
  }
}

export class DeliveryFields {
  constructor({ announce }) {
    this.announce = announce;
    this.targets = [];
    this.list = byId("delivery-list");
    this.sendWhen = byId("delivery-send-when");
    this.error = byId("error-deliveries");
    this.sendWhen.append(...SEND_WHEN.map(([value, label]) => el("option", { value }, label)));
    for (const kind of Object.keys(KINDS)) {
      byId(`add-${kind}`).addEventListener("click", () => this.add(kind));
    }
    this.setRoles([]);
  }

  // S3 and SFTP are offered to admins only; the API decides all the same.
  setRoles(roles) {
    const admin = roles.includes("admin");
    for (const [kind, spec] of Object.entries(KINDS)) show(byId(`add-${kind}`), admin || !spec.adminOnly);
    show(byId("delivery-admin-note"), !admin);
  }

  add(kind) {
    const target = new Target(kind, (removed) => this.remove(removed));
    this.targets.push(target);
    this.list.append(target.node);
    target.inputs.values().next().value.input.focus();
    this.announce(`Added a ${KINDS[kind].label} delivery.`);
  }

  remove(target) {
    this.targets = this.targets.filter((known) => known !== target);
    target.node.remove();
    byId(`add-${target.kind}`).focus();
    this.announce(`Removed the ${KINDS[target.kind].label} delivery.`);
  }

  reset() {
    for (const target of this.targets) target.node.remove();
    this.targets = [];
    this.sendWhen.value = "always";
  }

  // The body's members: the targets first (so the API's deliveries.N is the Nth target
  // here), then the api delivery that keeps the run in the history as before.
  body() {
    if (!this.targets.length) return {};
    return {
      deliveries: [...this.targets.map((target) => target.value()), { kind: "api", mode: "async" }],
      sendWhen: this.sendWhen.value,
    };
  }

  clearErrors() {
    for (const target of this.targets) target.clearErrors();
    setText(this.error, "");
    show(this.error, false);
  }

  // Whether a problem+json key is one of this fieldset's (deliveries..., sendWhen).
  owns(key) {
    return key === "sendWhen" || deliveryKey(key) !== null;
  }

  // A 422's deliveries.N.member messages beside their inputs, the rest (sendWhen, the list as
  // a whole) under the list; the input to focus first.
  showErrors(errors) {
    let first = null;
    const general = [];
    for (const [key, messages] of Object.entries(errors)) {
      const [position, member, rest] = deliveryKey(key) || [null, null, null];
      const target = position === null ? null : this.targets[position];
      if (!target) {
        general.push(...messages);
        continue;
      }
      const words = rest && member === "recipients" ? messages.map((message) => this.aboutRecipient(target, rest, message)) : messages;
      first = first || target.showError(member, words);
    }
    if (general.length) {
      setText(this.error, general.join(" "));
      show(this.error);
      first = first || this.sendWhen;
    }
    return first;
  }

  // A refusal of one recipient says which, unless the API's words already do.
  aboutRecipient(target, index, message) {
    const address = target.value().recipients[Number(index)] || `Recipient ${Number(index) + 1}`;
    return message.includes(address) ? message : `${address}: ${message}`;
  }
}
