// The one way this page talks to the server: /api/v1 with the bearer token, JSON both ways.

const BASE = "/api/v1";

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

export class Api {
  // tokenSource() gives the current token; onUnauthorized(detail) runs on any 401.
  constructor(tokenSource, onUnauthorized) {
    this.tokenSource = tokenSource;
    this.onUnauthorized = onUnauthorized;
  }

  async request(method, path, { body, query } = {}) {
    const url = new URL(BASE + path, window.location.origin);
    for (const [name, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
    }
    const headers = { Accept: "application/json" };
    const token = this.tokenSource();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit", // the token is the only credential; no cookie is ever sent
      });
    } catch (error) {
      throw new ApiError(0, { title: "Network error", detail: "The API could not be reached." });
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (error) {
        data = { title: `HTTP ${response.status}`, detail: "The API answered with something that is not JSON." };
      }
    }
    if (response.status === 401 && this.onUnauthorized) this.onUnauthorized(data && data.detail);
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  reportTypes() {
    return this.request("GET", "/report-types");
  }

  listReports(query) {
    return this.request("GET", "/reports", { query });
  }

  report(reportId) {
    return this.request("GET", `/reports/${encodeURIComponent(reportId)}`);
  }

  requestReport(reportType, body) {
    return this.request("POST", `/reports/${encodeURIComponent(reportType)}`, { body });
  }

  cancel(reportId) {
    return this.request("DELETE", `/reports/${encodeURIComponent(reportId)}`);
  }

  // Send one delivery of a run again now; the answer is the report.
  retryDelivery(reportId, deliveryId) {
    return this.request("POST", `/reports/${encodeURIComponent(reportId)}/deliveries/${encodeURIComponent(deliveryId)}/retry`);
  }

  definitions(query) {
    return this.request("GET", "/report-definitions", { query });
  }

  createDefinition(body) {
    return this.request("POST", "/report-definitions", { body });
  }

  changeDefinition(definitionId, changes) {
    return this.request("PATCH", `/report-definitions/${encodeURIComponent(definitionId)}`, { body: changes });
  }

  deleteDefinition(definitionId) {
    return this.request("DELETE", `/report-definitions/${encodeURIComponent(definitionId)}`);
  }

  generate(definitionId) {
    return this.request("POST", `/reports/${encodeURIComponent(definitionId)}/generate`);
  }

  // Webhook endpoints: the org's admins only (403 to anyone else).
  webhookEndpoints(query) {
    return this.request("GET", "/webhook-endpoints", { query });
  }

  createWebhookEndpoint(body) {
    return this.request("POST", "/webhook-endpoints", { body });
  }

  changeWebhookEndpoint(endpointId, changes) {
    return this.request("PATCH", `/webhook-endpoints/${encodeURIComponent(endpointId)}`, { body: changes });
  }

  deleteWebhookEndpoint(endpointId) {
    return this.request("DELETE", `/webhook-endpoints/${encodeURIComponent(endpointId)}`);
  }

  testWebhookEndpoint(endpointId) {
    return this.request("POST", `/webhook-endpoints/${encodeURIComponent(endpointId)}/test`);
  }

  rotateWebhookSecret(endpointId) {
    return this.request("POST", `/webhook-endpoints/${encodeURIComponent(endpointId)}/rotate-secret`);
  }

  webhookMessages(endpointId, query) {
    return this.request("GET", `/webhook-endpoints/${encodeURIComponent(endpointId)}/messages`, { query });
  }

  retryWebhookMessage(endpointId, messageId) {
    const path = `/webhook-endpoints/${encodeURIComponent(endpointId)}/messages/${encodeURIComponent(messageId)}/retry`;
    return this.request("POST", path);
  }

  // The next instants of a schedule, with offsets, and its description in words.
  schedulePreview(cron, timezone, count = 5) {
    return this.request("GET", "/schedules/preview", { query: { cron, timezone, count } });
  }
}
