// Words and numbers for people: durations, states and their colours.

// Bytes as people read them: 0 B, 512 KB, 12.3 MB, 1.2 GB (powers of 1000, as the
// engine's own progress shows them).
export function bytes(n) {
  if (n == null || n < 0) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = n, unit = 0;
  while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit += 1; }
  return `${unit === 0 || value >= 100 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

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

/** The state word for a service: one whose container could never be created is not
 * "crash looping" (nothing ran, nothing crashed), it cannot start. */
export function serviceStateOf(s) {
  const failing = s.state === "crash_looping" || s.state === "waiting" || s.state === "failed";
  if (failing && !s.container_id && s.last_exit_code == null && s.last_error) return ["Cannot start", "bad"];
  return serviceState(s.state);
}

// Exit codes above 128 are 128 + the signal that ended the process.
const SIGNALS = { 1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 6: "SIGABRT", 9: "SIGKILL", 11: "SIGSEGV", 13: "SIGPIPE", 15: "SIGTERM" };

/** An exit code with what it means: 137 is SIGKILL; "OOM-killed" only when the engine
 * says the kernel killed it for memory. */
export function exitWords(code, oomKilled) {
  if (code == null) return "";
  if (oomKilled) return `${code} · OOM-killed`;
  const signal = code > 128 ? SIGNALS[code - 128] : null;
  return signal ? `${code} · ${signal}` : String(code);
}

const OVERALL = {
  ok: "All services running",
  key_refused: "Key refused",
  degraded: "Some services failing",
  unreachable: "Server unreachable",
  engine_down: "Container engine down",
  paused: "Paused",
  starting: "Starting",
  offline: "ashtray not reachable",
  unconfigured: "Not set up",
};

export function overall(word) { return OVERALL[word] || word; }

/** The top bar's word and text from the whole host, so that it never says more than the
 * list shows: "All services running" only when every one runs, the key's refusal as
 * itself rather than as an unreachable server. */
export function overallOf(host) {
  const word = host.overall;
  if (word === "unreachable" && host.server?.state === "unauthorized") return ["key_refused", overall("key_refused")];
  const services = host.services || [];
  const running = services.filter((s) => s.state === "running").length;
  if (word === "ok" && running < services.length) return ["partial", `${running} of ${services.length} running`];
  return [word, overall(word)];
}

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

/** A service's CPU and memory in a few characters: "3.1 % · 12 MiB". */
export function usage(stats) {
  if (!stats) return "";
  return `${percent(stats.cpu_percent) || "0 %"} · ${bytes(stats.mem_bytes)}`;
}
