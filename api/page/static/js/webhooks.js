// The org's webhook endpoints, for its admins: add one (its signing secret shown once), send a
// test event, rotate the secret (the new one shown once), disable and enable, delete
// (confirmed), and each endpoint's recent messages with Retry now.
// The secret's box is webhook-secret.js.

import { confirmInline } from "./confirm.js";
import { byId, el, setText, show } from "./dom.js";
import { WebhookForm } from "./webhook-form.js";
import { SecretBox } from "./webhook-secret.js";
import { messagePollDelay, renderEndpoint, renderMessages } from "./webhook-row.js";

export const WEBHOOKS_PAGE_SIZE = 100;
const MESSAGES_LIMIT = 20;
const PAUSED_RECHECK_MS = 5000;

export class Webhooks {
  // isPaused(): whether the person paused live updates (the messages then wait too).
  constructor(api, { announce, alert, isPaused }) {
    this.api = api;
    this.announce = announce;
    this.alert = alert;
    this.isPaused = isPaused || (() => false);
    this.section = byId("webhooks");
    this.list = byId("webhook-list");
    this.summary = byId("webhooks-summary");
    this.secret = new SecretBox({ onDone: () => byId("webhooks-title").focus() });
    this.titles = new Map();
    this.items = [];
    this.total = 0;
    this.open = new Set(); // endpoints whose messages are shown
    this.messages = new Map(); // endpointId → its recent messages, newest first
    this.timer = null;
    this.form = new WebhookForm(api, { announce, onCreated: (created) => this.created(created) });
    this.actions = {
      test: (endpoint) => this.test(endpoint),
      rotate: (endpoint) => this.rotate(endpoint),
      setDisabled: (endpoint, disabled) => this.setDisabled(endpoint, disabled),
      toggleMessages: (endpoint) => this.toggleMessages(endpoint),
      remove: (endpoint) => this.confirmDelete(endpoint),
    };
  }

  setTypes(types) {
    this.titles = new Map(types.map((type) => [type.name, type.title || type.name]));
    this.form.setTypes(types);
  }

  // Shown to the org's admins only; the API refuses everyone else (403) in any case.
  start(roles) {
    const admin = roles.includes("admin");
    show(this.section, admin);
    if (admin) this.load();
    else this.clear();
  }

  clear() {
    window.clearTimeout(this.timer);
    this.secret.hide();
    this.items = [];
    this.total = 0;
    this.open.clear();
    this.messages.clear();
    this.list.replaceChildren();
    this.form.reset();
    show(this.section, false);
  }

  async load() {
    let page;
    try {
      page = await this.api.webhookEndpoints({ pageSize: WEBHOOKS_PAGE_SIZE });
    } catch (error) {
      if (error.status === 403) show(this.section, false);
      else if (error.status !== 401) this.alert(`Could not load the webhook endpoints: ${error.message}`);
      return;
    }
    this.items = page.items || [];
    this.total = page.total || 0;
    const ids = new Set(this.items.map((endpoint) => endpoint.endpointId));
    for (const id of [...this.open]) if (!ids.has(id)) this.open.delete(id);
    this.render();
  }

  render() {
    const focused = this.list.contains(document.activeElement) ? document.activeElement : null;
    const focus = focused ? { id: focused.closest("li.webhook-item")?.dataset.endpointId, action: focused.dataset.action } : null;
    const typeTitle = (name) => this.titles.get(name) || name;
    this.list.replaceChildren(
      ...this.items.map((endpoint) =>
        el(
          "li",
          { class: "webhook-item", dataset: { endpointId: endpoint.endpointId, state: endpoint.disabled ? "disabled" : "enabled" } },
          renderEndpoint(endpoint, { actions: this.actions, typeTitle, messagesOpen: this.open.has(endpoint.endpointId) }),
        ),
      ),
    );
    for (const id of this.open) this.renderMessages(id);
    const total = this.total;
    if (!total) setText(this.summary, "No endpoints yet: add one above.");
    else if (total > this.items.length) setText(this.summary, `The ${this.items.length} newest of ${total} endpoints.`);
    else setText(this.summary, `${total} endpoint${total === 1 ? "" : "s"}, newest first.`);
    if (focus && focus.id) this.refocus(focus.id, focus.action);
  }

  item(endpointId) {
    return this.list.querySelector(`li.webhook-item[data-endpoint-id="${CSS.escape(endpointId)}"]`);
  }

  endpoint(endpointId) {
    return this.items.find((endpoint) => endpoint.endpointId === endpointId);
  }

  // After a re-render the keyboard stays on the action (or its opposite, or the row).
  refocus(endpointId, action) {
    const item = this.item(endpointId);
    if (!item) return;
    const again = { disable: "enable", enable: "disable" }[action];
    const target =
      item.querySelector(`[data-action="${action}"]`) || item.querySelector(`[data-action="${again}"]`) || item.querySelector("article");
    target.focus();
  }

  async created(created) {
    this.announce(`Added the endpoint ${created.url}. Copy its signing secret now.`);
    await this.load();
    this.secret.show(created, created.secret, null);
  }

  // --- the actions of a row ---

  async test(endpoint) {
    try {
      await this.api.testWebhookEndpoint(endpoint.endpointId);
      this.announce(`A test event is on its way to ${endpoint.url}.`);
    } catch (error) {
      this.refused("Send test event", error);
      return;
    }
    this.open.add(endpoint.endpointId);
    this.render();
    await this.loadMessages(endpoint.endpointId);
  }

  async rotate(endpoint) {
    let rotated;
    try {
      rotated = await this.api.rotateWebhookSecret(endpoint.endpointId);
    } catch (error) {
      this.refused("Rotate secret", error);
      return;
    }
    this.announce(`${endpoint.url} has a new signing secret. Copy it now.`);
    await this.load();
    this.secret.show(endpoint, rotated.secret, rotated.previousSecretExpiresAt);
  }

  async setDisabled(endpoint, disabled) {
    try {
      const changed = await this.api.changeWebhookEndpoint(endpoint.endpointId, { disabled });
      this.announce(`${changed.url} is ${changed.disabled ? "disabled" : "enabled again"}.`);
    } catch (error) {
      this.refused(disabled ? "Disable" : "Enable", error);
    }
    await this.load();
  }

  toggleMessages(endpoint) {
    const id = endpoint.endpointId;
    if (this.open.has(id)) this.open.delete(id);
    else this.open.add(id);
    this.render();
    if (this.open.has(id)) this.loadMessages(id);
    else this.schedulePoll();
  }

  confirmDelete(endpoint) {
    const item = this.item(endpoint.endpointId);
    if (!item) return;
    confirmInline(item, {
      questionId: `webhook-confirm-${endpoint.endpointId}`,
      question: `Delete the endpoint ${endpoint.url}? It gets nothing more, and its messages go with it.`,
      confirmLabel: "Delete endpoint",
      onConfirm: () => this.remove(endpoint),
    });
    this.announce(`Delete ${endpoint.url}? Confirm or keep it.`);
  }

  async remove(endpoint) {
    try {
      await this.api.deleteWebhookEndpoint(endpoint.endpointId);
      this.announce(`Deleted the endpoint ${endpoint.url}.`);
    } catch (error) {
      if (error.status !== 404) {
        this.refused("Delete", error);
        return;
      }
      this.announce(`${endpoint.url} was already deleted.`);
    }
    this.open.delete(endpoint.endpointId);
    this.messages.delete(endpoint.endpointId);
    await this.load();
    byId("webhooks-title").focus();
  }

  // --- messages ---

  async loadMessages(endpointId) {
    try {
      const answer = await this.api.webhookMessages(endpointId, { limit: MESSAGES_LIMIT });
      // Closed, or signed out, while the answer was on its way: it starts no new poll.
      if (!this.open.has(endpointId)) return;
      this.messages.set(endpointId, answer.items || []);
    } catch (error) {
      if (!this.open.has(endpointId)) return;
      if (error.status === 404) {
        await this.load(); // deleted meanwhile (another tab, another admin)
        return;
      }
      this.refused("Loading the messages", error);
      this.open.delete(endpointId);
      this.render();
      return;
    }
    this.renderMessages(endpointId);
    this.schedulePoll();
  }

  renderMessages(endpointId) {
    const endpoint = this.endpoint(endpointId);
    const panel = byId(`webhook-messages-${endpointId}`);
    if (!endpoint || !panel) return;
    const focused = panel.contains(document.activeElement) ? document.activeElement : null;
    const focus = focused ? { messageId: focused.closest("li.message")?.dataset.messageId, action: focused.dataset.action } : null;
    const messages = this.messages.get(endpointId);
    panel.replaceChildren(
      ...(messages
        ? renderMessages(endpoint, messages, {
            refresh: (e) => this.loadMessages(e.endpointId),
            retry: (e, message) => this.retry(e, message),
          })
        : [el("p", { class: "quiet" }, "Loading the messages…")]),
    );
    if (!focus) return;
    const target = focus.messageId
      ? panel.querySelector(`li.message[data-message-id="${CSS.escape(focus.messageId)}"] [data-action="${focus.action}"]`)
      : panel.querySelector(`[data-action="${focus.action}"]`);
    if (target) target.focus();
  }

  async retry(endpoint, message) {
    try {
      await this.api.retryWebhookMessage(endpoint.endpointId, message.messageId);
      this.announce(`The ${message.eventType} message is sent again now.`);
    } catch (error) {
      this.refused("Retry now", error);
    }
    await this.loadMessages(endpoint.endpointId);
  }

  // One timer for every open panel: asks again while a message is on its way (or soon due).
  schedulePoll() {
    window.clearTimeout(this.timer);
    const delays = [...this.open].map((id) => messagePollDelay(this.messages.get(id))).filter((delay) => delay !== null);
    if (!delays.length) return;
    this.timer = window.setTimeout(() => this.poll(), Math.min(...delays));
  }

  async poll() {
    if (this.isPaused() || document.hidden) {
      this.timer = window.setTimeout(() => this.poll(), PAUSED_RECHECK_MS);
      return;
    }
    await Promise.all([...this.open].map((id) => this.loadMessages(id)));
  }

  refused(what, error) {
    if (error.status === 401) return;
    if (error.status === 403) {
      this.clear(); // no longer an admin: the section has nothing to offer
      return;
    }
    this.alert(`${what} failed: ${error.message}`);
    this.announce(`${what} failed: ${error.message}`);
  }
}
