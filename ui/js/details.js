// The detail view of one service: what the list has no room for. Its image and the
// image's id, its container, ports, mounts, env (values of secret-looking keys hidden by
// the API), the spec as the server sent it, the full last error and output, and its
// history on this host, newest first. From `GET /api/v1/services/{name}/details`, asked
// again whenever the service's row changes.

import { bytes, clock, exitWords, h, percent, serviceStateOf } from "./format.js";

export class DetailPane {
  constructor(root, { toast }) {
    this.root = root;
    this.api = null;
    this.service = null;
    this.toast = toast;
    this.body = root.querySelector("#details-body");
    this.title = root.querySelector("#details-service");
    this.asked = 0; // the newest request, so a slow old answer never overwrites a new one
    root.querySelector("#details-close").addEventListener("click", () => this.close());
  }

  open(name) {
    this.service = name;
    this.root.hidden = false;
    this.root.dataset.service = name;
    this.title.textContent = name;
    this.body.replaceChildren(h("p", { class: "muted" }, "Loading…"));
    requestAnimationFrame(() => this.root.scrollIntoView({ block: "nearest" }));
    return this.refresh();
  }

  close() {
    this.service = null;
    this.root.hidden = true;
  }

  /** New CPU and memory readings: the usage part alone is drawn again. */
  setStats(services) {
    this.lastStats = services;
    const el = this.root.querySelector('[data-role="usage"]');
    if (!this.service || !el) return;
    el.replaceChildren(...usageNodes(services?.[this.service]));
  }

  /** A row changed: what it shows may have too. */
  changed(name) {
    if (name !== this.service) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), 250);
  }

  async refresh() {
    const name = this.service;
    if (!name || !this.api) return;
    const asked = ++this.asked;
    try {
      const details = await this.api.details(name);
      if (asked === this.asked && name === this.service) this.render(details);
    } catch (error) {
      if (asked === this.asked && name === this.service) {
        this.body.replaceChildren(h("p", { class: "error" }, `The details of ${name} cannot be read: ${error.message}`));
      }
    }
  }

  render(d) {
    const s = d.service;
    const spec = d.spec;
    const [stateText] = serviceStateOf(s);
    const rows = [
      ["State", stateText + (s.desired !== "run" ? ` (${s.desired.replace(/_/g, " ")})` : "")],
      ["Image", s.image || "–"],
      ["Image id", d.image_id ? mono(d.image_id) : "–"],
      ["Container", s.container_id ? mono(`${s.container_id.slice(0, 12)} · ${s.container_name}`, s.container_id) : `none (${s.container_name} when it runs)`],
      ["Addon", [s.addon_name, s.addon_version].filter(Boolean).join(" ") || "–"],
      ["Source", s.source],
      ["Restarts", String(s.restarts ?? 0) + (s.last_restart_reason ? `, last because ${s.last_restart_reason}` : "")],
      ["Last exit", s.last_exit_code == null ? "–" : exitWords(s.last_exit_code, s.last_exit_oom_killed)],
      ["Ports", list(spec?.ports?.map(port))],
      ["Mounts", list(spec?.volumes)],
      ["Memory limit", spec?.mem_limit || "–"],
      ["User", spec?.user || "–"],
    ];
    const dl = h("dl", { class: "detail-grid" });
    for (const [label, value] of rows) {
      dl.append(h("dt", {}, label), h("dd", { "data-field": label.toLowerCase().replace(/ /g, "-") }, value));
    }
    const env = spec?.env?.length
      ? h("table", { class: "env", "data-role": "env" },
        h("tbody", {}, spec.env.map((e) => h("tr", { "data-key": e.key },
          h("td", { class: "mono" }, e.key),
          h("td", { class: "mono" }, e.hidden ? h("span", { class: "muted", "data-role": "hidden" }, "hidden (looks like a secret)") : e.value)))))
      : h("p", { class: "muted" }, spec ? "No environment of its own." : "No spec: the server does not want it here, or its spec is invalid.");
    const history = d.history.length
      ? h("ol", { class: "history", "data-role": "history", reversed: true },
        [...d.history].reverse().map((e) => h("li", { "data-kind": e.kind },
          h("span", { class: "mono muted" }, clock(e.at_ms).replace(/\.\d+$/, "")), " ", e.text)))
      : h("p", { class: "muted" }, "Nothing has happened to it on this host since ashtray started.");
    this.body.replaceChildren(
      dl,
      section("CPU and memory", h("div", { "data-role": "usage", class: "usage" }, ...usageNodes(this.lastStats?.[s.name]))),
      s.last_error ? section("Last error", h("pre", { class: "detail-error", "data-role": "last-error" }, s.last_error)) : null,
      s.last_output?.length ? section("Last output before it exited", h("pre", { class: "detail-pre" }, s.last_output.join("\n"))) : null,
      section("Environment", env),
      section("History", history),
      spec ? h("details", { class: "detail-spec" }, h("summary", {}, "The spec as the server sent it"),
        h("pre", { class: "detail-pre", "data-role": "spec" }, JSON.stringify(spec, null, 2))) : null,
    );
  }
}

function section(title, content) {
  return h("section", { class: "detail-section" }, h("h3", {}, title), content);
}

function mono(text, title) {
  return h("span", { class: "mono", title: title || text }, text);
}

function list(items) {
  return items?.length ? h("ul", { class: "plain" }, items.map((i) => h("li", { class: "mono" }, i))) : "–";
}

function port(p) {
  const host = p.host_port == null ? "any port" : `${p.host_ip ? `${p.host_ip}:` : ""}${p.host_port}`;
  return `${host} → ${p.container_port}/${p.protocol}`;
}

/** The latest reading and the last two minutes as two small line charts. */
function usageNodes(stats) {
  if (!stats) return [h("p", { class: "muted" }, "No readings: it does not run, or the engine has not measured it yet.")];
  const limit = stats.mem_limit_bytes ? ` of ${bytes(stats.mem_limit_bytes)}` : "";
  return [
    h("div", { class: "usage-row" }, h("span", { "data-role": "cpu" }, `CPU ${percent(stats.cpu_percent) || "0 %"}`),
      spark(stats.history.map((p) => p.cpu_percent), "cpu")),
    h("div", { class: "usage-row" }, h("span", { "data-role": "mem" }, `Memory ${bytes(stats.mem_bytes)}${limit}`),
      spark(stats.history.map((p) => p.mem_bytes), "mem")),
  ];
}

const SVG = "http://www.w3.org/2000/svg";

function spark(values, what) {
  const width = 160;
  const height = 28;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(height));
  svg.setAttribute("class", "spark");
  svg.dataset.role = `${what}-history`;
  svg.dataset.points = String(values.length);
  const top = Math.max(...values, what === "cpu" ? 1 : 1024);
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / top) * (height - 4)).toFixed(1)}`);
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", points.join(" "));
  svg.append(line);
  return svg;
}
