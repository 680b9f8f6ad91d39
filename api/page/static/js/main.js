// Wiring: sign-in, the request form, the history, the poller and (for admins) webhooks.

import { Api } from "./api.js";
import { byId, el, setText, show } from "./dom.js";
import { setUtc, zoneName } from "./format.js";
import { DefinitionForm } from "./definition-form.js";
import { Definitions } from "./definitions.js";
import { History } from "./history.js";
import { Poller } from "./poller.js";
import { RequestForm } from "./request-form.js";
import { claimsOf, currentToken, forgetToken, keepToken, rolesOf } from "./session.js";
import { Webhooks } from "./webhooks.js";

const UTC_PREFERENCE = "reportbox.utc"; // a display preference, not a secret

const announcer = byId("announcer");
const alertBox = byId("alert");

function announce(text) {
  setText(announcer, text);
}

function alert(text) {
  setText(alertBox, text || "");
  show(alertBox, Boolean(text));
}

const api = new Api(currentToken, (detail) => signOut(`The API refused the token${detail ? `: ${detail}` : "."} Sign in again.`));
const history = new History(api, { announce, alert, runAgain: (report) => runAgain(report) });
const form = new RequestForm(api, {
  announce,
  // The newest first, unfiltered: the new report is at the top, and the poller watches it.
  onRequested: () => history.go({ page: 1 }),
  showReport: (reportId) => history.showReport(reportId),
});
const poller = new Poller(
  () => history.refresh(),
  (text, state) => {
    setText(byId("live-state"), text);
    byId("live-state").dataset.state = state;
  },
);
history.onNavigate = () => poller.now();
const definitions = new Definitions(api, {
  announce,
  alert,
  names: history.definitionNames,
  showRuns: (definition) => showRuns(definition),
  onRun: (accepted, definition) => showRuns(definition),
});
const definitionForm = new DefinitionForm(api, form, {
  announce,
  // The keyboard goes to the new definition (the button pressed is gone with the mode).
  onSaved: async (saved) => {
    await definitions.load();
    definitions.focus(saved.definitionId);
  },
});
const webhooks = new Webhooks(api, {
  announce,
  alert,
  isPaused: () => byId("pause-toggle").getAttribute("aria-pressed") === "true",
});
// A run that finishes changes its definition's last run (and, failing, maybe pauses it).
history.onStatusChange = (report) => {
  if (report.definitionId) definitions.load();
};

// A definition's runs: the history filtered by its id (kept in the URL like any filter).
function showRuns(definition) {
  history.go({ definition: definition.definitionId, page: 1 });
  byId("history-title").focus();
  announce(`Showing the runs of ${definition.name}.`);
}

function runAgain(report) {
  if (form.prefill(report)) announce("The form holds that report's type, format and parameters.");
  else announce("That report type is no longer offered.");
}

function showZone() {
  setText(byId("zone-label"), `Times in ${zoneName()}.`);
}

function setUpPreferences() {
  const toggle = byId("utc-toggle");
  toggle.checked = window.localStorage.getItem(UTC_PREFERENCE) === "true";
  setUtc(toggle.checked);
  showZone();
  toggle.addEventListener("change", () => {
    window.localStorage.setItem(UTC_PREFERENCE, String(toggle.checked));
    setUtc(toggle.checked);
    showZone();
    history.rerenderAll();
    definitions.render();
    webhooks.render();
  });
  const pause = byId("pause-toggle");
  pause.addEventListener("click", () => {
    const paused = pause.getAttribute("aria-pressed") !== "true";
    pause.setAttribute("aria-pressed", String(paused));
    setText(pause, paused ? "Resume live updates" : "Pause live updates");
    poller.setPaused(paused);
  });
}

function demoUsers() {
  const data = byId("demo-users");
  if (!data) return [];
  try {
    const users = JSON.parse(data.textContent);
    return Array.isArray(users) ? users : [];
  } catch (error) {
    return [];
  }
}

function setUpSignIn() {
  byId("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = byId("token-input");
    const token = input.value.trim().replace(/^Bearer\s+/i, "");
    input.value = "";
    if (!token) {
      signOut("Paste a token first.");
      return;
    }
    signIn(token);
  });
  byId("sign-out").addEventListener("click", () => signOut("Signed out; the token is forgotten."));
  const users = demoUsers();
  if (!users.length) return;
  byId("demo-users-list").replaceChildren(
    ...users.map((user) =>
      el(
        "li",
        {},
        el(
          "button",
          {
            type: "button",
            dataset: { org: user.org, role: user.role },
            onclick: () => {
              const expires = Number(claimsOf(user.token).exp || 0) * 1000;
              if (expires && expires < Date.now()) signOut("The demo tokens have expired: reload the page for fresh ones.");
              else signIn(user.token);
            },
          },
          `${user.sub} — ${user.org}, ${user.role}`,
        ),
      ),
    ),
  );
  show(byId("demo-sign-in"));
}

async function signIn(token) {
  keepToken(token);
  await enterWorkspace();
}

async function enterWorkspace() {
  let catalog;
  try {
    catalog = await api.reportTypes();
  } catch (error) {
    if (error.status !== 401) signOut(`Could not reach the API: ${error.message}`);
    return;
  }
  const claims = claimsOf(currentToken());
  const roles = rolesOf(claims);
  setText(
    byId("signed-in-as"),
    `Signed in as ${claims.sub || "?"} (org ${claims.org || "?"}; ${roles.length ? roles.join(", ") : "no roles"}).`,
  );
  show(byId("sign-in"), false);
  show(byId("session-bar"));
  show(byId("workspace"));
  alert(null);
  form.load(catalog.items || [], roles);
  definitionForm.setRoles(roles);
  definitions.setRoles(roles);
  history.setTypes(catalog.items || []);
  definitions.setTypes(catalog.items || []);
  definitions.load(); // alongside the history's first page, not before it
  webhooks.setTypes(catalog.items || []);
  webhooks.start(roles);
  announce(`Signed in as ${claims.sub || "a user"}.`);
  await poller.start();
}

function signOut(message) {
  forgetToken();
  poller.stop();
  history.render([]);
  definitions.clear();
  webhooks.clear();
  show(byId("workspace"), false);
  show(byId("session-bar"), false);
  show(byId("sign-in"));
  const note = byId("sign-in-message");
  setText(note, message || "");
  show(note, Boolean(message));
  if (message) {
    announce(message);
    byId("token-input").focus();
  }
}

setUpPreferences();
setUpSignIn();
if (currentToken()) enterWorkspace();
else signOut(null);
