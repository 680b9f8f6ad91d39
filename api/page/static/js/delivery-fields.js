// The deliveries part of a form: the definition form's, and a saved definition's editor.
// E-mail for everyone, S3 and SFTP for admins only (the API refuses them to others; the page
// does not offer them). Secrets are write-only: password inputs (a key file for SFTP) that
// start empty and are never filled from anything the API sent; a saved secret left empty is
// sent back as the API's mask, which keeps it.

import { el, setText, show } from "./dom.js";
import { arrange, deliveryKey, KINDS, MASK, SEND_WHEN, splitList } from "./delivery-kinds.js";

const API_DELIVERY = { kind: "api", mode: "async" }; // a new definition's runs stay fetchable
let counter = 0; // ids unique in the page, whatever is added and removed

class Target {
  // stored: the target as the API shows it (secrets masked) and origin its index, when it
  // is a saved one.
  constructor(kind, onRemove, stored = null, origin = null) {
    this.kind = kind;
    this.origin = origin;
    this.id = `delivery-${++counter}`;
    this.inputs = new Map(); // member → { input, error, spec }
    this.saved = new Set(); // secret members the API holds (shown as MASK)
    this.keyText = null; // a private key file's text, once read
    this.reading = null; // the read in progress, for value() to wait on
    const spec = KINDS[kind];
    const titleId = `${this.id}-title`;
    this.generalError = el("p", { id: `${this.id}-error`, class: "field-error", hidden: true });
    this.node = el(
      "fieldset",
      { class: "delivery-target", dataset: { kind }, "aria-describedby": this.generalError.id },
      el("legend", { id: titleId }, spec.label),
      spec.fields.map((field) => this.field(field, stored)),
      this.generalError,
      el("div", { class: "actions" }, el("button", { type: "button", dataset: { action: "remove-delivery" }, "aria-describedby": titleId, onclick: () => onRemove(this) }, "Remove")),
    );
  }

  field(spec, stored) {
    const inputId = `${this.id}-${spec.name}`;
    const saved = Boolean(stored && (spec.secret || spec.file) && stored[spec.name] === MASK);
    if (saved) this.saved.add(spec.name);
    const hintText = saved ? `${spec.hint ? `${spec.hint} ` : ""}Saved: leave empty to keep it.` : spec.hint;
    const error = el("p", { id: `error-${inputId}`, class: "field-error", hidden: true });
    const hint = hintText ? el("p", { id: `hint-${inputId}`, class: "hint" }, hintText) : null;
    const described = [hint && hint.id, error.id].filter(Boolean).join(" ");
    let input;
    if (spec.options) {
      input = el("select", { id: inputId, "aria-describedby": described }, spec.options.map(([value, label]) => el("option", { value }, label)));
    } else if (spec.file) {
      input = el("input", { id: inputId, type: "file", "aria-describedby": described });
      input.addEventListener("change", () => {
        const file = input.files && input.files[0];
        this.reading = file ? file.text().then((text) => (this.keyText = text)) : null;
        if (!file) this.keyText = null;
      });
    } else {
      input = el("input", {
        id: inputId,
        type: spec.secret ? "password" : spec.number ? "number" : "text",
        autocomplete: spec.secret ? "new-password" : "off",
        spellcheck: "false",
        "aria-describedby": described,
        "aria-required": spec.optional || saved ? null : "true",
      });
    }
    input.dataset.member = spec.name;
    if (!spec.secret && !spec.file) input.value = this.shown(spec, stored);
    this.inputs.set(spec.name, { input, error, spec });
    return el("div", { class: "field" }, el("label", { for: inputId }, spec.label), hint, input, error);
  }

  // A member's value in its input: the saved one, else the kind's default.
  shown(spec, stored) {
    const value = stored ? stored[spec.name] : undefined;
    if (value === undefined || value === null) return stored ? "" : spec.value || (spec.options ? spec.options[0][0] : "");
    return Array.isArray(value) ? value.join(", ") : String(value);
  }

  // The target as the API takes it: empty optional members left out, so the API's defaults
  // apply. A saved secret left empty comes back as MASK when `keep` (a saved target) and no
  // secret was entered anew; the API keeps the secret of the saved target with the same
  // destination (an S3 bucket and access key, an SFTP login), wherever the target now sits,
  // and names the member when the destination changed. Otherwise it is left out and the API
  // names it as missing.
  async value(keep) {
    if (this.reading) await this.reading;
    const target = { kind: this.kind };
    const secrets = [];
    for (const [name, { input, spec }] of this.inputs) {
      if (spec.file || spec.secret) {
        const entered = spec.file ? this.keyText : input.value;
        if (entered) target[name] = entered;
        else secrets.push(name);
        continue;
      }
      const raw = input.value.trim();
      if (spec.list) target[name] = splitList(raw);
      else if (raw && spec.number) target[name] = Number(raw);
      else if (raw) target[name] = raw;
    }
    const enteredAnew = secrets.length < [...this.inputs.values()].filter(({ spec }) => spec.file || spec.secret).length;
    if (keep && !enteredAnew) for (const name of secrets) if (this.saved.has(name)) target[name] = MASK;
    return target;
  }

  recipients() {
    const known = this.inputs.get("recipients");
    return known ? splitList(known.input.value) : [];
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
  // root: the element the part is built in; prefix: its ids' prefix, unique in the page.
  constructor(root, prefix, { announce }) {
    this.announce = announce;
    this.targets = [];
    this.original = []; // the saved deliveries, when editing
    this.sent = []; // what the last body() sent: targets and null (api) by index
    this.list = el("div", { class: "delivery-list-edit" });
    this.adminNote = el(
      "p",
      { id: `${prefix}-admin-note`, class: "hint" },
      "S3 and SFTP deliveries, and e-mail to domains outside this deployment's allowed list, are added by an admin.",
    );
    this.addButtons = Object.fromEntries(
      Object.entries(KINDS).map(([kind, spec]) => [kind, el("button", { type: "button", dataset: { action: `add-${kind}` }, onclick: () => this.add(kind) }, spec.add)]),
    );
    this.error = el("p", { id: `error-${prefix}`, class: "field-error", hidden: true });
    this.sendWhen = el(
      "select",
      { id: `${prefix}-send-when`, name: "sendWhen", "aria-describedby": this.error.id },
      SEND_WHEN.map(([value, label]) => el("option", { value }, label)),
    );
    root.append(
      el("p", { class: "hint" }, "Besides your history, each completed run can go to people and places, each on its own with its own attempts. Secrets are write-only: once saved they are never shown again."),
      this.adminNote,
      this.list,
      el("div", { class: "actions" }, Object.values(this.addButtons)),
      el("div", { class: "field" }, el("label", { for: this.sendWhen.id }, "Send"), this.sendWhen),
      this.error,
    );
    this.setRoles([]);
  }

  // S3 and SFTP are offered to admins only; the API decides all the same.
  setRoles(roles) {
    const admin = roles.includes("admin");
    for (const [kind, spec] of Object.entries(KINDS)) show(this.addButtons[kind], admin || !spec.adminOnly);
    show(this.adminNote, !admin);
  }

  // A saved definition's deliveries, to edit: its targets filled in, secrets empty.
  load(deliveries, sendWhen) {
    this.reset();
    this.original = deliveries || [];
    this.original.forEach((target, index) => {
      if (KINDS[target.kind]) this.place(new Target(target.kind, (removed) => this.remove(removed), target, index));
    });
    this.sendWhen.value = sendWhen || "always";
  }

  add(kind) {
    const target = this.place(new Target(kind, (removed) => this.remove(removed)));
    target.inputs.values().next().value.input.focus();
    this.announce(`Added a ${KINDS[kind].label} delivery.`);
  }

  place(target) {
    this.targets.push(target);
    this.list.append(target.node);
    return target;
  }

  remove(target) {
    this.targets = this.targets.filter((known) => known !== target);
    target.node.remove();
    this.addButtons[target.kind].focus();
    this.announce(`Removed the ${KINDS[target.kind].label} delivery.`);
  }

  reset() {
    for (const target of this.targets) target.node.remove();
    this.targets = [];
    this.original = [];
    this.sendWhen.value = "always";
  }

  // The body's members. A new definition: nothing unless targets were added, then the
  // targets and the api delivery. An edited one: the targets in their saved places (see
  // arrange), the api deliveries kept, each saved target's untouched secrets masked.
  async body() {
    const editing = this.original.length > 0;
    if (!editing && !this.targets.length) return {};
    this.sent = arrange(this.original, this.targets);
    const deliveries = await Promise.all(
      this.sent.map((target) => (target ? target.value(target.origin !== null) : null)),
    );
    const apiEntries = this.original.filter((entry) => entry.kind === "api");
    let apiIndex = 0;
    const list = deliveries.map((value) => value || apiEntries[apiIndex++]);
    if (!editing) list.push(API_DELIVERY);
    return { deliveries: list, sendWhen: this.sendWhen.value };
  }

  // Whether a problem+json key is one of this part's (deliveries..., sendWhen).
  owns(key) {
    return key === "sendWhen" || deliveryKey(key) !== null;
  }

  clearErrors() {
    for (const target of this.targets) target.clearErrors();
    setText(this.error, "");
    show(this.error, false);
  }

  // A 422's deliveries.N.member messages beside their inputs, the rest (sendWhen, the list as
  // a whole) under the list; the input to focus first.
  showErrors(errors) {
    let first = null;
    const general = [];
    for (const [key, messages] of Object.entries(errors)) {
      const [position, member, rest] = deliveryKey(key) || [null, null, null];
      const target = position === null ? null : this.sent[position];
      if (!target) {
        general.push(...messages);
        continue;
      }
      const words = rest && member === "recipients" ? messages.map((message) => aboutRecipient(target, rest, message)) : messages;
      first = first || target.showError(member, words);
    }
    if (general.length) {
      setText(this.error, general.join(" "));
      show(this.error);
      first = first || this.sendWhen;
    }
    return first;
  }
}

// A refusal of one recipient says which, unless the API's words already do.
function aboutRecipient(target, index, message) {
  const address = target.recipients()[Number(index)] || `Recipient ${Number(index) + 1}`;
  return message.includes(address) ? message : `${address}: ${message}`;
}
