// The caller's reports, newest first, a page at a time from GET /api/v1/reports; rows are
// updated in place as the poller refreshes them.

import { el, setText } from "./dom.js";
import { readFilters, writeFilters } from "./url-state.js";
import { curlFor } from "./curl.js";
import { renderReport, signature } from "./report-row.js";

export const PAGE_SIZE = 10;

export class History {
  constructor(api, { announce, alert, runAgain }) {
    this.api = api;
    this.announce = announce;
    this.alert = alert;
    this.runAgain = runAgain;
    this.list = document.getElementById("report-list");
    this.summary = document.getElementById("history-summary");
    this.filtersForm = document.getElementById("filters");
    this.pageLabel = document.getElementById("page-label");
    this.prev = document.getElementById("page-prev");
    this.next = document.getElementById("page-next");
    this.rows = new Map(); // reportId → { item, report, signature }
    this.titles = new Map();
    this.definitionNames = new Map(); // definitionId → name, to say whose runs are shown
    this.filters = readFilters();
    this.total = 0;
    this.actions = {
      download: (report) => this.download(report),
      cancel: (report) => this.cancel(report),
      runAgain: (report) => this.runAgain(report),
      copyCurl: (report) => this.copyCurl(report),
      sendAgain: (report, delivery) => this.sendAgain(report, delivery),
    };
    this.filtersForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.go({ ...this.formFilters(), definition: this.filters.definition, page: 1 });
    });
    document.getElementById("filters-clear").addEventListener("click", () => this.go({ page: 1 }));
    this.prev.addEventListener("click", () => this.go({ ...this.filters, page: this.filters.page - 1 }));
    this.next.addEventListener("click", () => this.go({ ...this.filters, page: this.filters.page + 1 }));
    window.addEventListener("popstate", () => {
      this.filters = readFilters();
      this.fillForm();
      this.onNavigate();
    });
    this.onNavigate = () => {};
    this.onStatusChange = () => {}; // (report) after a report shown changed its status
  }

  setTypes(types) {
    this.titles = new Map(types.map((type) => [type.name, type.title || type.name]));
    const typeSelect = document.getElementById("filter-type");
    const formatSelect = document.getElementById("filter-format");
    typeSelect.replaceChildren(el("option", { value: "" }, "Any type"), ...types.map((type) => el("option", { value: type.name }, type.title || type.name)));
    const formats = [...new Set(types.flatMap((type) => type.formats || []))];
    formatSelect.replaceChildren(el("option", { value: "" }, "Any format"), ...formats.map((format) => el("option", { value: format }, format)));
    this.fillForm();
  }

  formFilters() {
    const data = new FormData(this.filtersForm);
    const filters = {};
    for (const [key, value] of data.entries()) if (String(value).trim()) filters[key] = String(value).trim();
    return filters;
  }

  fillForm() {
    for (const key of ["status", "type", "format", "id"]) {
      const input = this.filtersForm.elements.namedItem(key);
      const value = this.filters[key] || "";
      if (input.tagName === "SELECT" && value && ![...input.options].some((option) => option.value === value)) {
        input.append(el("option", { value }, value)); // a shared link may name what this catalog lacks
      }
      input.value = value;
    }
  }

  go(filters) {
    this.filters = { ...filters, page: Math.max(1, filters.page || 1) };
    writeFilters(this.filters);
    this.fillForm();
    this.onNavigate();
  }

  // Show one report alone (a link from the form), as the id filter does.
  showReport(reportId) {
    this.go({ id: reportId, page: 1 });
  }

  // Fetch the current view and update the rows in place; returns the reports shown.
  async refresh() {
    let reports;
    try {
      reports = await this.fetchView();
    } catch (error) {
      if (error.status !== 401) this.alert(`Could not load your reports: ${error.message}`);
      throw error;
    }
    this.alert(null);
    this.render(reports);
    return reports;
  }

  async fetchView() {
    const filters = this.filters;
    if (filters.id) {
      try {
        const report = await this.api.report(filters.id);
        this.total = 1;
        return [report];
      } catch (error) {
        if (error.status === 404) {
          this.total = 0;
          return [];
        }
        throw error;
      }
    }
    const page = await this.api.listReports({
      page: filters.page,
      pageSize: PAGE_SIZE,
      status: filters.status,
      reportType: filters.type,
      format: filters.format,
      definitionId: filters.definition,
    });
    this.total = page.total;
    return page.items;
  }

  render(reports, { force = false } = {}) {
    const seen = new Set();
    reports.forEach((report, index) => {
      seen.add(report.reportId);
      const item = this.updateRow(report, force);
      const current = this.list.children[index];
      if (current !== item) this.list.insertBefore(item, current || null);
    });
    for (const [reportId, row] of this.rows) {
      if (!seen.has(reportId)) {
        row.item.remove();
        this.rows.delete(reportId);
      }
    }
    this.renderSummary(reports);
  }

  updateRow(report, force) {
    const known = this.rows.get(report.reportId);
    const changed = !known || force || known.signature !== signature(report) || report.status === "Processing" || report.status === "Pending";
    if (known && known.report.status !== report.status) {
      const title = this.titles.get(report.reportType) || report.reportType;
      this.announce(`${title} report ${report.reportId.slice(0, 8)} is now ${report.status}.`);
      this.onStatusChange(report);
    }
    if (known && !changed) {
      known.report = report;
      return known.item;
    }
    const item = known ? known.item : el("li", { class: "report-item" });
    const focusedAction = known && item.contains(document.activeElement) ? document.activeElement.dataset.action : null;
    const definitionName = report.definitionId ? this.definitionNames.get(report.definitionId) : null;
    item.replaceChildren(renderReport(report, this.titles.get(report.reportType) || report.reportType, this.actions, definitionName));
    item.dataset.trigger = report.trigger || "request";
    item.dataset.reportId = report.reportId;
    item.dataset.status = report.status;
    if (focusedAction) {
      const again = item.querySelector(`[data-action="${focusedAction}"]`) || item.querySelector("article");
      again.focus();
    }
    this.rows.set(report.reportId, { item, report, signature: signature(report) });
    return item;
  }

  renderSummary(reports) {
    const filters = this.filters;
    const pages = Math.max(1, Math.ceil(this.total / PAGE_SIZE));
    if (filters.id) {
      setText(this.summary, reports.length ? "The report with this id:" : "There is no report with this id that you may see.");
    } else if (filters.definition) {
      const name = this.definitionNames.get(filters.definition);
      const whose = name ? `of “${name}”` : "of this definition";
      const runs = `${this.total} run${this.total === 1 ? "" : "s"}`;
      setText(this.summary, this.total ? `${runs} ${whose}, newest first; Clear shows all your reports.` : `No runs ${whose} yet.`);
    } else if (!this.total) {
      setText(this.summary, Object.keys(filters).length > 1 ? "No report matches these filters." : "No reports yet: request one above.");
    } else {
      setText(this.summary, `${this.total} report${this.total === 1 ? "" : "s"}, newest first.`);
    }
    setText(this.pageLabel, filters.id ? "" : `Page ${filters.page} of ${pages}`);
    this.prev.disabled = Boolean(filters.id) || filters.page <= 1;
    this.next.disabled = Boolean(filters.id) || filters.page >= pages;
  }

  rerenderAll() {
    this.render([...this.rows.values()].map((row) => row.report), { force: true });
  }

  reports() {
    return [...this.rows.values()].map((row) => row.report);
  }

  async download(report) {
    // GET the report for a URL presigned just now: a fetch() of /download cannot be used, as
    // its 302 to the storage host is opaque to a script (redirect: "manual") or becomes a
    // cross-origin fetch of the whole file (redirect: "follow"). A navigation to the
    // presigned URL lets the browser download the file itself.
    try {
      const fresh = await this.api.report(report.reportId);
      if (fresh.status === "Completed" && fresh.downloadUrl) {
        this.announce(`Downloading ${fresh.file ? fresh.file.name : "the file"}.`);
        window.location.assign(fresh.downloadUrl);
      } else {
        this.announce(`The report is ${fresh.status}; there is no file to download.`);
      }
      this.render(this.reports().map((known) => (known.reportId === fresh.reportId ? fresh : known)));
    } catch (error) {
      if (error.status !== 401) this.alert(`Download failed: ${error.message}`);
    }
  }

  async cancel(report) {
    try {
      const cancelled = await this.api.cancel(report.reportId);
      this.announce(cancelled.status === "Cancelled" ? "Report cancelled." : "Cancelling the report…");
      this.onNavigate();
    } catch (error) {
      if (error.status === 409) {
        this.announce(error.message);
        this.onNavigate();
      } else if (error.status !== 401) {
        this.alert(`Cancel failed: ${error.message}`);
      }
    }
  }

  // One delivery of a run sent again: the answer is the report with it Pending, shown at
  // once; the poller then follows it (see nextPollDelay).
  async sendAgain(report, delivery) {
    try {
      const fresh = await this.api.retryDelivery(report.reportId, delivery.deliveryId);
      this.render(this.reports().map((known) => (known.reportId === fresh.reportId ? fresh : known)));
      this.announce(`The ${delivery.kind} delivery is sent again.`);
      const row = this.rows.get(fresh.reportId);
      if (row) row.item.querySelector("article").focus();
      this.onNavigate();
    } catch (error) {
      if (error.status !== 401) this.alert(`Send again failed: ${error.message}`);
    }
  }

  async copyCurl(report) {
    const command = curlFor(report);
    const row = this.rows.get(report.reportId);
    try {
      await navigator.clipboard.writeText(command);
      this.announce("The curl command is copied. Set TOKEN to your token before running it.");
    } catch (error) {
      // No clipboard (an insecure origin, or permission refused): show it to copy by hand.
      if (!row) return;
      const box = row.item.querySelector(".curl-box");
      const id = `curl-${report.reportId}`;
      const area = el("textarea", { id, readonly: true, rows: 4, class: "curl-text" });
      area.value = command;
      box.replaceChildren(el("label", { for: id }, "curl command (set TOKEN first)"), area);
      box.hidden = false;
      area.focus();
      area.select();
    }
  }
}
