// The service API client: the only way this UI reaches ashtray (issue 5's control API).
// JSON over HTTP with a bearer token; EventSource cannot send headers, so streams carry
// the token as `?token=`.

export class Unauthorized extends Error {
  constructor() { super("the API token was refused"); this.name = "Unauthorized"; }
}

export class ApiClient {
  /** @param {string} baseUrl e.g. http://127.0.0.1:7654 ("" for this page's own origin) */
  constructor(baseUrl, token) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.token = token;
  }

  url(path, params = {}) {
    const query = new URLSearchParams(params).toString();
    return `${this.baseUrl}${path}${query ? `?${query}` : ""}`;
  }

  async request(method, path) {
    let response;
    try {
      response = await fetch(this.url(path), {
        method,
        headers: { Authorization: `Bearer ${this.token}`, Accept: "application/json" },
      });
    } catch (error) {
      throw new Error(`ashtray's API does not answer (${error.message})`);
    }
    if (response.status === 401) throw new Unauthorized();
    const text = await response.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch { body = text; }
    if (!response.ok) {
      const message = (body && (body.error || body.message)) || text || response.statusText;
      throw new Error(`${method} ${path}: ${response.status} ${message}`);
    }
    return body;
  }

  host() { return this.request("GET", "/api/v1/host"); }
  services() { return this.request("GET", "/api/v1/services"); }
  stats() { return this.request("GET", "/api/v1/stats"); }
  details(name) { return this.request("GET", `/api/v1/services/${encodeURIComponent(name)}/details`); }
  act(name, action) { return this.request("POST", `/api/v1/services/${encodeURIComponent(name)}/${action}`); }
  pause() { return this.request("POST", "/api/v1/pause"); }
  resume() { return this.request("POST", "/api/v1/resume"); }

  /** The live host: a `state` event with the host view (as GET /host answers) after every change. */
  events() { return new EventSource(this.url("/api/v1/events", { token: this.token })); }

  /** A service's last `tail` lines, then every new one (`line` and `missed` events). */
  followLogs(name, tail) {
    return new EventSource(this.url(`/api/v1/services/${encodeURIComponent(name)}/logs`, {
      follow: "true", tail: String(tail), token: this.token,
    }));
  }
}
