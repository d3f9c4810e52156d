// The service list: one row per service of the latest HostState, updated in place so that
// keyboard focus and selection survive every live update.

import { duration, h, serviceState } from "./format.js";

export class ServiceList {
  /**
   * @param {HTMLElement} body the table's <tbody>
   * @param {{onAction: (name: string, action: string) => Promise<void>, onSelect: (name: string) => void}} hooks
   */
  constructor(body, empty, count, hooks) {
    this.body = body;
    this.empty = empty;
    this.count = count;
    this.hooks = hooks;
    this.rows = new Map();
    this.services = [];
    this.selected = null;
    // Uptime moves with the clock, not with events: redraw only that column.
    setInterval(() => this.tickUptime(), 1000);
  }

  render(services) {
    this.services = services;
    const names = new Set(services.map((s) => s.name));
    for (const [name, row] of this.rows) {
      if (!names.has(name)) { row.remove(); this.rows.delete(name); }
    }
    services.forEach((service, index) => {
      let row = this.rows.get(service.name);
      if (!row) {
        row = this.createRow(service.name);
        this.rows.set(service.name, row);
      }
      if (this.body.children[index] !== row) this.body.insertBefore(row, this.body.children[index] || null);
      this.fill(row, service);
    });
    this.empty.hidden = services.length > 0;
    const running = services.filter((s) => s.state === "running").length;
    this.count.textContent = services.length ? `${running} of ${services.length} running` : "";
  }

  createRow(name) {
    const row = h("tr", { tabindex: "0", dataset: { service: name }, "aria-selected": "false" });
    row.addEventListener("click", (event) => {
      if (!event.target.closest("button")) this.select(name);
    });
    row.addEventListener("keydown", (event) => {
      if (event.target !== row) return;
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); this.select(name); }
      if (event.key === "ArrowDown") { event.preventDefault(); row.nextElementSibling?.focus(); }
      if (event.key === "ArrowUp") { event.preventDefault(); row.previousElementSibling?.focus(); }
    });
    return row;
  }

  select(name) {
    this.selected = name;
    for (const [rowName, row] of this.rows) row.setAttribute("aria-selected", String(rowName === name));
    this.hooks.onSelect(name);
  }

  fill(row, s) {
    // Snapshots come on every change of the host (health too): redraw a row only when
    // what it shows changed, so buttons stay put under the pointer and focus stays.
    const shown = JSON.stringify([s.state, s.desired, s.addon_name, s.addon_version, s.image, s.last_error,
      s.restarts, s.last_exit_code, s.started_at_ms, s.state === "waiting" ? s.next_restart_in_ms : null, s.reported, s.health]);
    if (row.dataset.shown === shown) return;
    row.dataset.shown = shown;
    const [stateText, tone] = serviceState(s.state);
    row.dataset.state = s.state;
    row.dataset.desired = s.desired;
    const addon = [s.addon_name, s.addon_version].filter(Boolean).join(" ");
    const error = s.last_error || (s.desired === "invalid" || s.desired === "no_image" ? s.desired.replace("_", " ") : "");
    let waiting = "";
    if (s.state === "waiting" && s.next_restart_in_ms != null) waiting = ` · retry in ${duration(s.next_restart_in_ms)}`;
    const stoppedHere = s.desired === "stopped_locally";

    const cells = [
      h("td", {},
        h("div", { class: "svc-name", "data-role": "name", title: s.name }, s.name),
        h("div", { class: "svc-addon", "data-role": "addon" }, addon || s.image || ""),
        error ? h("div", { class: "svc-error", "data-role": "error", title: error }, error) : null),
      h("td", {},
        h("span", { class: "badge", "data-role": "state", "data-tone": tone }, stateText),
        healthMark(s.health),
        stoppedHere ? h("div", { class: "svc-addon" }, "stopped on this host") : null,
        waiting ? h("div", { class: "svc-addon" }, waiting.slice(3)) : null),
      h("td", { "data-role": "uptime", class: "mono" }, this.uptime(s)),
      h("td", { class: "num", "data-role": "restarts" }, String(s.restarts ?? 0)),
      h("td", { "data-role": "exit", class: "mono" }, s.last_exit_code == null ? "–" : String(s.last_exit_code)),
      h("td", { "data-role": "reported" }, reported(s.reported)),
      h("td", {}, h("div", { class: "row-actions" },
        button(s, "start", "Start", !(stoppedHere || ["stopped", "failed", "crash_looping"].includes(s.state)) || s.desired === "not_wanted", this.hooks),
        button(s, "stop", "Stop", stoppedHere || s.desired !== "run", this.hooks),
        button(s, "restart", "Restart", s.desired !== "run", this.hooks),
        h("button", { type: "button", class: "small ghost", "data-action": "logs", title: `Show the log of ${s.name}`,
          onclick: () => this.select(s.name) }, "Logs"))),
    ];
    // Keep the focused button focused across redraws.
    const focused = row.contains(document.activeElement) ? document.activeElement.dataset.action : null;
    row.replaceChildren(...cells);
    if (focused) row.querySelector(`[data-action="${focused}"]`)?.focus();
  }

  uptime(s) {
    return s.state === "running" && s.started_at_ms ? duration(Date.now() - s.started_at_ms) : "–";
  }

  tickUptime() {
    for (const s of this.services) {
      const cell = this.rows.get(s.name)?.querySelector('[data-role="uptime"]');
      if (cell) cell.textContent = this.uptime(s);
    }
  }
}

function button(service, action, label, disabled, hooks) {
  return h("button", {
    type: "button", class: "small", "data-action": action, disabled,
    title: `${label} ${service.name}`,
    onclick: async (event) => {
      event.stopPropagation();
      const el = event.currentTarget;
      el.disabled = true;
      try { await hooks.onAction(service.name, action); } finally { el.disabled = false; }
    },
  }, label);
}

// The container's own HEALTHCHECK, as a small mark beside the state: none without one.
function healthMark(health) {
  if (!health) return null;
  const tone = { healthy: "ok", starting: "info", unhealthy: "bad" }[health] || "idle";
  const text = { healthy: "healthy", starting: "health check starting", unhealthy: "unhealthy" }[health] || health;
  return h("span", { class: "health-mark", "data-role": "health", "data-health": health, "data-tone": tone,
    title: `Health check: ${text}`, "aria-label": `health check: ${text}` }, health === "unhealthy" ? "✚ unhealthy" : "✚");
}

function reported(status) {
  if (!status) return h("span", { class: "muted" }, "–");
  const tone = { ok: "ok", busy: "info", error: "bad" }[status.state] || "idle";
  const progress = status.progress == null ? null
    : h("div", { class: "progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(Math.round(status.progress)) },
      h("span", { style: `width:${Math.max(0, Math.min(100, status.progress))}%` }));
  return h("div", { class: "reported" },
    h("span", { class: "badge", "data-tone": tone }, status.state),
    status.message ? h("span", { class: "muted" }, " ", status.message) : null,
    progress);
}
