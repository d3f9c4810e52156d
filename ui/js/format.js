// Words and numbers for people: durations, states and their colours.

export function duration(ms) {
  if (ms == null || ms < 0) return "";
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

export function ago(atMs, now = Date.now()) {
  if (!atMs) return "never";
  return `${duration(Math.max(0, now - atMs))} ago`;
}

// Made once: `toLocaleTimeString` with options builds a formatter on every call, which a
// log pane drawing thousands of lines cannot afford. Same fields as its defaults.
const TIME_OF_DAY = new Intl.DateTimeFormat([], { hour: "numeric", minute: "numeric", second: "numeric", hour12: false });

export function clock(atMs) {
  const d = new Date(atMs);
  return TIME_OF_DAY.format(d) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

const SERVICE_STATES = {
  running: ["Running", "ok"],
  starting: ["Starting", "info"],
  stopping: ["Stopping", "info"],
  stopped: ["Stopped", "idle"],
  waiting: ["Restarting soon", "warn"],
  crash_looping: ["Crash looping", "bad"],
  failed: ["Failed", "bad"],
  skipped: ["Skipped", "idle"],
  pending: ["Pending", "info"],
};

export function serviceState(state) {
  return SERVICE_STATES[state] || [state, "idle"];
}

const OVERALL = {
  ok: "All services running",
  degraded: "Some services failing",
  unreachable: "Server unreachable",
  engine_down: "Container engine down",
  paused: "Paused",
  starting: "Starting",
  offline: "ashtray not reachable",
  unconfigured: "Not set up",
};

export function overall(word) { return OVERALL[word] || word; }

const SERVER = {
  connecting: ["Connecting", "info"], connected: ["Connected", "ok"],
  unreachable: ["Unreachable", "bad"], unauthorized: ["Key refused", "bad"],
  not_configured: ["None: local services only", "info"],
};

// Who declares a service, when it is not the server: a small badge beside its name.
export function sourceBadge(s) {
  if (s.source === "local") return ["local", "info", "Declared in the local services file"];
  if (s.source === "cache") {
    const since = s.unreachable_since_ms ? ` since ${new Date(s.unreachable_since_ms).toLocaleString()}` : "";
    return ["from cache", "warn", `From the server's last answer, kept on this host: server unreachable${since}`];
  }
  return null;
}
const ENGINE = { connecting: ["Connecting", "info"], up: ["Up", "ok"], down: ["Down", "bad"] };

export function serverState(state) { return SERVER[state] || [state, "idle"]; }
export function engineState(state) { return ENGINE[state] || [state, "idle"]; }

export function percent(value) {
  if (value == null || Number.isNaN(value)) return "";
  return `${value.toFixed(value < 10 ? 1 : 0)} %`;
}

/** Element builder: h("td", {class: "x", dataset: {a: 1}}, child, "text"). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "class") el.className = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}
