// The person's saved definitions from GET /api/v1/report-definitions, with Run now,
// Pause/Resume, their runs (the history filtered by definitionId) and Delete (confirmed).

import { confirmInline } from "./confirm.js";
import { el, setText } from "./dom.js";
import { renderDefinition } from "./definition-row.js";
import { DeliveryEditor } from "./delivery-editor.js";

export const DEFINITIONS_PAGE_SIZE = 50;

export class Definitions {
  // showRuns(definition): the history of its runs; onRun(accepted, definition) after Run now;
  // names: a Map (definitionId → name) kept up to date for the history to name runs by.
  constructor(api, { announce, alert, showRuns, onRun, names }) {
    this.api = api;
    this.announce = announce;
    this.alert = alert;
    this.showRuns = showRuns;
    this.onRun = onRun;
    this.list = document.getElementById("definition-list");
    this.summary = document.getElementById("definitions-summary");
    this.titles = new Map();
    this.descriptions = new Map(); // "cron|zone" → the schedule in words
    this.items = [];
    this.total = 0;
    this.names = names || new Map();
    this.actions = {
      runNow: (definition) => this.runNow(definition),
      setActive: (definition, active) => this.setActive(definition, active),
      showRuns: (definition) => this.showRuns(definition),
      editDeliveries: (definition) => this.editDeliveries(definition),
      remove: (definition) => this.confirmDelete(definition),
    };
    this.roles = [];
    this.editors = new Map(); // definitionId → the DeliveryEditor open in its row
  }

  setRoles(roles) {
    this.roles = roles;
  }

  setTypes(types) {
    this.titles = new Map(types.map((type) => [type.name, type.title || type.name]));
  }

  async load() {
    let page;
    try {
      page = await this.api.definitions({ pageSize: DEFINITIONS_PAGE_SIZE });
    } catch (error) {
      if (error.status !== 401) this.alert(`Could not load your definitions: ${error.message}`);
      return;
    }
    this.items = page.items || [];
    this.total = page.total || 0;
    for (const definition of this.items) this.names.set(definition.definitionId, definition.name);
    await this.describeSchedules(this.items);
    this.render();
  }

  clear() {
    this.items = [];
    this.total = 0;
    this.editors.clear();
    this.list.replaceChildren();
  }

  // The schedule in words is the API's (one home for that rule): asked once per schedule.
  async describeSchedules(definitions) {
    const missing = new Map();
    for (const definition of definitions) {
      const schedule = definition.schedule;
      const key = schedule ? `${schedule.cron}|${schedule.timezone}` : null;
      if (key && !this.descriptions.has(key)) missing.set(key, schedule);
    }
    await Promise.all(
      [...missing].map(async ([key, schedule]) => {
        try {
          const answer = await this.api.schedulePreview(schedule.cron, schedule.timezone, 1);
          this.descriptions.set(key, answer.description);
        } catch (error) {
          // The cron itself is shown instead.
        }
      }),
    );
  }

  render() {
    const total = this.total;
    const focused = this.list.contains(document.activeElement) ? document.activeElement : null;
    // An open editor outlives the re-render (a run that ends reloads the list), and so does
    // the keyboard's place in it.
    const inEditor = focused && focused.closest(".delivery-editor");
    const focus = focused ? { id: focused.closest("li")?.dataset.definitionId, action: focused.dataset.action } : null;
    this.list.replaceChildren(
      ...this.items.map((definition) => {
        const schedule = definition.schedule;
        const description = schedule ? this.descriptions.get(`${schedule.cron}|${schedule.timezone}`) : null;
        const typeTitle = this.titles.get(definition.reportType) || definition.reportType;
        return el(
          "li",
          { class: "definition-item", dataset: { definitionId: definition.definitionId, active: String(definition.active) } },
          renderDefinition(definition, { typeTitle, description, actions: this.actions }),
        );
      }),
    );
    if (!total) setText(this.summary, "No saved definitions yet: use “Save as a definition…” in the form above.");
    else if (total > this.items.length) setText(this.summary, `The ${this.items.length} newest of ${total} definitions.`);
    else setText(this.summary, `${total} definition${total === 1 ? "" : "s"}, newest first.`);
    for (const [definitionId, editor] of this.editors) {
      const item = this.item(definitionId);
      if (item) this.attach(item, editor);
      else this.editors.delete(definitionId);
    }
    if (inEditor && inEditor.isConnected) focused.focus();
    else if (focus && focus.id) this.refocus(focus.id, focus.action);
  }

  attach(item, editor) {
    const box = item.querySelector(".edit-box");
    box.replaceChildren(editor.node);
    box.hidden = false;
  }

  editDeliveries(definition) {
    const id = definition.definitionId;
    const item = this.item(id);
    if (!item) return;
    if (!this.editors.has(id)) {
      const editor = new DeliveryEditor(this.api, definition, {
        roles: this.roles,
        announce: this.announce,
        onSaved: async () => {
          this.editors.delete(id);
          await this.load();
          this.refocus(id, "edit-deliveries");
        },
        onClose: () => {
          this.editors.delete(id);
          const shown = this.item(id);
          const box = shown ? shown.querySelector(".edit-box") : null;
          if (box) {
            box.replaceChildren();
            box.hidden = true;
          }
          this.refocus(id, "edit-deliveries");
        },
      });
      this.editors.set(id, editor);
      this.attach(item, editor);
    }
    this.editors.get(id).focus();
  }

  focus(definitionId) {
    const item = this.item(definitionId);
    if (item) item.querySelector("article").focus();
  }

  item(definitionId) {
    return this.list.querySelector(`li[data-definition-id="${CSS.escape(definitionId)}"]`);
  }

  // After a change re-renders the list, the keyboard stays where it was (or on the row).
  refocus(definitionId, action) {
    const item = this.item(definitionId);
    if (!item) return;
    const again = {
      pause: "resume",
      resume: "pause",
    }[action];
    const target =
      item.querySelector(`[data-action="${action}"]`) || item.querySelector(`[data-action="${again}"]`) || item.querySelector("article");
    target.focus();
  }

  async runNow(definition) {
    try {
      const accepted = await this.api.generate(definition.definitionId);
      this.announce(`Run of ${definition.name} requested; it is ${accepted.status}.`);
      this.onRun(accepted, definition);
      await this.load();
    } catch (error) {
      this.refused("Run now", error);
    }
  }

  async setActive(definition, active) {
    try {
      const changed = await this.api.changeDefinition(definition.definitionId, { active });
      this.announce(`${changed.name} is ${changed.active ? "active again" : "paused"}.`);
      await this.load();
    } catch (error) {
      this.refused(active ? "Resume" : "Pause", error);
    }
  }

  confirmDelete(definition) {
    const item = this.item(definition.definitionId);
    if (!item) return;
    confirmInline(item, {
      questionId: `confirm-${definition.definitionId}`,
      question: `Delete “${definition.name}”? Its runs stay in your history.`,
      confirmLabel: "Delete definition",
      onConfirm: () => this.remove(definition),
    });
    this.announce(`Delete ${definition.name}? Confirm or keep it.`);
  }

  async remove(definition) {
    try {
      await this.api.deleteDefinition(definition.definitionId);
      this.announce(`Deleted ${definition.name}.`);
    } catch (error) {
      if (error.status !== 404) {
        this.refused("Delete", error);
        return;
      }
      this.announce(`${definition.name} was already deleted.`);
    }
    await this.load();
    document.getElementById("definitions-title").focus();
  }

  refused(what, error) {
    if (error.status === 401) return;
    const problem = error.problem || {};
    const detail = typeof problem.error === "string" ? problem.error : error.message;
    this.alert(`${what} failed: ${detail}`);
    this.announce(`${what} failed: ${detail}`);
  }
}
