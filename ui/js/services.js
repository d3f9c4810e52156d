// The service list: one row per service of the latest HostState, updated in place so that
// keyboard focus and selection survive every live update.

import { bytes, duration, exitWords, h, serviceStateOf, sourceBadge, usage } from "./format.js";

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
    this.stats = {}; // the latest readings by service, from GET /api/v1/stats
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
      s.restarts, s.last_exit_code, s.last_exit_oom_killed, s.container_id, s.started_at_ms, s.next_restart_at_ms,
      s.reported, s.actions, s.source, s.unreachable_since_ms, s.health, s.pull]);
    if (row.dataset.shown === shown) return;
    row.dataset.shown = shown;
    this.hooks.onChanged?.(s.name);
    const [stateText, tone] = serviceStateOf(s);
    row.dataset.state = s.state;
    row.dataset.desired = s.desired;
    const addon = [s.addon_name, s.addon_version].filter(Boolean).join(" ");
    const error = s.last_error || (s.desired === "invalid" || s.desired === "no_image" ? s.desired.replace("_", " ") : "");
    const stoppedHere = s.desired === "stopped_locally";
    // What may be asked is the engine's word (the tray and the CLI use the same).
    const allowed = s.actions || {};
    const source = sourceBadge(s);

    const cells = [
      h("td", {},
        h("div", { class: "svc-name", "data-role": "name", title: [s.name, addon || s.image].filter(Boolean).join(" · ") }, s.name,
          source ? h("span", { class: "badge small", "data-role": "source", "data-tone": source[1], title: source[2] }, source[0]) : null),
        s.source === "cache" ? h("div", { class: "svc-addon", "data-role": "source-note" }, source[2]) : null,
        h("div", { class: "svc-addon", "data-role": "addon" }, addon || s.image || ""),
        // Whole, wrapped: the useful part of an engine's error is at its end.
        error ? h("div", { class: "svc-error", "data-role": "error" }, error) : null),
      h("td", {},
        h("span", { class: "badge", "data-role": "state", "data-tone": tone }, stateText),
        healthMark(s.health),
        stoppedHere ? h("div", { class: "svc-addon" }, "stopped on this host") : null,
        s.pull ? pullProgress(s.pull) : null,
        s.next_restart_at_ms != null ? h("div", { class: "svc-addon", "data-role": "retry" }, this.retry(s)) : null),
      h("td", { class: "mono" }, h("div", { "data-role": "uptime" }, this.uptime(s)),
        h("div", { class: "svc-addon", "data-role": "usage", title: "CPU (of one core) and memory in use" }, this.usageOf(s))),
      h("td", { class: "num", "data-role": "restarts" }, String(s.restarts ?? 0)),
      h("td", { "data-role": "exit", class: "mono" }, s.last_exit_code == null ? "–" : exitWords(s.last_exit_code, s.last_exit_oom_killed)),
      h("td", { "data-role": "reported" }, reported(s.reported)),
      h("td", {}, h("div", { class: "row-actions" },
        button(s, "start", "Start", !allowed.start, this.hooks),
        button(s, "stop", "Stop", !allowed.stop, this.hooks),
        button(s, "restart", "Restart", !allowed.restart, this.hooks),
        h("button", { type: "button", class: "small ghost", "data-action": "logs", title: `Show the log of ${s.name}`,
          onclick: () => this.select(s.name) }, "Logs"),
        h("button", { type: "button", class: "small ghost", "data-action": "details", title: `Show the details of ${s.name}`,
          onclick: (event) => { event.stopPropagation(); this.hooks.onDetails?.(s.name); } }, "Details"))),
    ];
    // Keep the focused button focused across redraws.
    const focused = row.contains(document.activeElement) ? document.activeElement.dataset.action : null;
    row.replaceChildren(...cells);
    if (focused) row.querySelector(`[data-action="${focused}"]`)?.focus();
  }

  /** New readings: only the usage lines change, no row is drawn again. */
  setStats(services) {
    this.stats = services || {};
    for (const s of this.services) {
      const cell = this.rows.get(s.name)?.querySelector('[data-role="usage"]');
      if (cell) cell.textContent = this.usageOf(s);
    }
  }

  // A container's last reading outlives it by a few seconds: a service that no longer
  // runs shows none, not the CPU and memory of the container it had.
  usageOf(s) {
    return s.state === "running" ? usage(this.stats[s.name]) : "";
  }

  uptime(s) {
    return s.state === "running" && s.started_at_ms ? duration(Date.now() - s.started_at_ms) : "–";
  }

  // The engine sends the moment of the next attempt; the countdown is ours to run.
  retry(s) {
    const left = Math.max(0, s.next_restart_at_ms - Date.now());
    return `retry in ${duration(Math.ceil(left / 1000) * 1000)}`;
  }

  tickUptime() {
    for (const s of this.services) {
      const row = this.rows.get(s.name);
      const cell = row?.querySelector('[data-role="uptime"]');
      if (cell) cell.textContent = this.uptime(s);
      const retry = row?.querySelector('[data-role="retry"]');
      if (retry && s.next_restart_at_ms != null) retry.textContent = this.retry(s);
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
      try { await hooks.onAction(service.name, action); } finally { el.disabled = disabled; }
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

// A pull under way: bytes while the sizes are known, layers always.
function pullProgress(pull) {
  const fraction = pull.bytes_total > 0 ? pull.bytes_done / pull.bytes_total
    : pull.layers_total > 0 ? pull.layers_done / pull.layers_total : 0;
  const pct = Math.round(Math.max(0, Math.min(1, fraction)) * 100);
  const words = [
    pull.bytes_total > 0 ? `${bytes(pull.bytes_done)} of ${bytes(pull.bytes_total)}` : null,
    `${pull.layers_done}/${pull.layers_total} layers`,
  ].filter(Boolean).join(" · ");
  return h("div", { class: "pull", "data-role": "pull", title: `Pulling ${pull.image}` },
    h("div", { class: "svc-addon" }, `pulling ${words}`),
    h("div", { class: "progress", role: "progressbar", "aria-label": `Pulling ${pull.image}`,
      "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(pct) },
      h("span", { style: `width:${pct}%` })));
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
