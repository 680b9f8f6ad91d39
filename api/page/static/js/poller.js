// When to ask the API again: only while something is in flight, every 2 s while a report is
// Processing, less often while reports only wait (Pending) or a run's delivery is Pending,
// and never while the tab is hidden or the person paused live updates.

export const PROCESSING_POLL_MS = 2000;
// A report that has just been requested is often done within a second: ask again soon, then
// back off to the slowest pace the longer it waits.
export const PENDING_FIRST_POLL_MS = 1000;
export const PENDING_POLL_MS = 5000;

function pendingDelay(reports, now) {
  const youngest = Math.min(...reports.map((report) => now - Date.parse(report.createdAt)));
  const delay = Number.isFinite(youngest) ? youngest / 2 : PENDING_POLL_MS;
  return Math.round(Math.min(PENDING_POLL_MS, Math.max(PENDING_FIRST_POLL_MS, delay)));
}

// The delay before the next refresh in ms, or null for none (a pure decision, see Poller).
export function nextPollDelay(reports, { hidden, paused, now = Date.now() }) {
  if (hidden || paused) return null;
  if (reports.some((report) => report.status === "Processing")) return PROCESSING_POLL_MS;
  const pending = reports.filter((report) => report.status === "Pending");
  if (pending.length) return pendingDelay(pending, now);
  if (reports.some((report) => (report.deliveries || []).some((delivery) => delivery.status === "Pending"))) {
    return PENDING_POLL_MS;
  }
  return null;
}

export class Poller {
  // refresh() fetches the current view and resolves to the reports it shows; onState(text,
  // state) says what the poller is doing.
  constructor(refresh, onState) {
    this.refresh = refresh;
    this.onState = onState;
    this.running = false;
    this.paused = false;
    this.timer = null;
    this.reports = [];
    document.addEventListener("visibilitychange", () => {
      if (!this.running) return;
      if (document.visibilityState === "visible") this.now();
      else this.schedule();
    });
  }

  start() {
    this.running = true;
    return this.now();
  }

  stop() {
    this.running = false;
    this.clear();
  }

  setPaused(paused) {
    this.paused = paused;
    if (!this.running) return;
    if (paused) this.schedule();
    else this.now();
  }

  // Refresh at once (after an action or a change of view), then follow the rules again.
  async now() {
    if (!this.running) return;
    this.clear();
    try {
      this.reports = await this.refresh();
    } catch (error) {
      // refresh() shows its own errors; the schedule follows what was last shown.
    }
    this.schedule();
  }

  clear() {
    if (this.timer !== null) window.clearTimeout(this.timer);
    this.timer = null;
  }

  schedule() {
    this.clear();
    if (!this.running) return;
    const hidden = document.visibilityState === "hidden";
    const delay = nextPollDelay(this.reports, { hidden, paused: this.paused });
    if (this.paused) this.onState("Live updates paused.", "paused");
    else if (hidden) this.onState("Live updates wait while this tab is hidden.", "hidden");
    else if (delay === null) this.onState("Live updates off: nothing is in progress.", "idle");
    else this.onState(`Live updates while reports are in progress (next in ${Math.round(delay / 100) / 10} s).`, "polling");
    if (delay !== null) this.timer = window.setTimeout(() => this.now(), delay);
  }
}
