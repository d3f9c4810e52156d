// The host panel and the top bar's one-word status, from the latest HostState.

import { ago, clock, engineState, overall, overallOf, percent, serverState } from "./format.js";

const $ = (id) => document.getElementById(id);

let shown = null; // the host and where, for the banner's "since … ago" to keep moving

export function renderHost(host, { inWindow = false } = {}) {
  shown = { host, inWindow };
  $("host-name").textContent = host.hostname ? `· ${host.hostname}` : "";
  const [word, text] = overallOf(host);
  renderOverall(word, text);

  $("host-server-url").textContent = host.server_url;
  const [serverText, serverTone] = serverState(host.server.state);
  badge($("host-server-state"), serverText, serverTone, host.server.state);
  $("host-server-user").textContent = host.server.user ? `as ${host.server.user}` : "";
  $("host-server-reason").textContent = host.server.state === "connected" ? "" : host.server.reason || "";

  const [engineText, engineTone] = engineState(host.engine.state);
  badge($("host-engine-state"), engineText, engineTone, host.engine.state);
  // The version often names the engine already ("Docker 20.10").
  const version = host.engine.version || "";
  $("host-engine-kind").textContent = version.startsWith(host.engine.kind) ? version : [host.engine.kind, version].filter(Boolean).join(" ");
  $("host-engine-endpoint").textContent = host.engine.endpoint || "";
  $("host-engine-reason").textContent = host.engine.state === "up" ? "" : host.engine.reason || "";

  meter("host-cpu", host.health?.cpu);
  meter("host-mem", host.health?.mem);
  $("host-heartbeat").textContent = ago(host.server.last_heartbeat_ms);
  $("host-heartbeat").dataset.at = host.server.last_heartbeat_ms || "";

  // Where a browser reaches this host: 47120, or the free port taken when it was not free.
  $("host-dashboard").textContent = host.dashboard_url || "";
  $("settings-dashboard-url").textContent = host.dashboard_url || "";
  $("settings-dashboard").hidden = !host.dashboard_url;

  const problems = $("host-problems");
  problems.replaceChildren(...(host.problems || []).map((p) => Object.assign(document.createElement("li"), { textContent: p })));

  const pause = $("pause-all");
  pause.hidden = false;
  pause.textContent = host.paused ? "Resume all" : "Pause all";
  pause.dataset.paused = String(host.paused);

  const banner = $("banner");
  const why = bannerText(host, inWindow);
  banner.hidden = !why;
  $("banner-text").textContent = why;
  $("banner-settings").hidden = !(inWindow && host.server.state === "unauthorized");
  $("banner").dataset.since = why ? String(host.server.since_ms || "") : "";
}

export function renderOverall(word, text = overall(word)) {
  const el = $("overall");
  el.dataset.overall = word;
  $("overall-text").textContent = text;
}

/** The banner over the list, in words that are true: a server that answered with an
 * error is failing, not unreachable; in the window the key was typed into Settings, so
 * the engine's advice to check an environment variable is left out. */
export function bannerText(host, inWindow, now = Date.now()) {
  if (host.paused) return "";
  const since = host.server.since_ms ? ` (since ${clock(host.server.since_ms).replace(/\.\d+$/, "")}, ${ago(host.server.since_ms, now)})` : "";
  let reason = host.server.reason || "";
  if (host.server.state === "unauthorized") {
    if (inWindow) reason = reason.replace(/: check AYON_API_KEY$/, "");
    return `The AYON server refuses this host's API key${since}: ${reason || "check it in Settings"}`;
  }
  if (host.server.state === "unreachable") {
    if (/^the AYON server failed \(\d{3}/.test(reason)) return `The AYON server answers with an error${since}: ${reason}`;
    return `The AYON server cannot be reached${since}: ${reason || "no answer"}`;
  }
  if (host.engine.state === "down") return `The container engine is down: ${host.engine.reason || "no answer"}`;
  if (host.local_services?.error) return `${host.local_services.error}: its last good services keep running until it is fixed`;
  return "";
}

/** What a bug report needs, as text: versions, the host's state, each service's state and
 * last error. Built from the host view alone, which holds no key or token, and never
 * from the API client (which holds the token). */
export function diagnostics(host, { inWindow = false, page = "" } = {}) {
  const services = (host.services || []).map((s) => ({
    name: s.name, state: s.state, desired: s.desired, source: s.source, image: s.image,
    addon: [s.addon_name, s.addon_version].filter(Boolean).join(" ") || null,
    container_id: s.container_id, restarts: s.restarts, last_restart_reason: s.last_restart_reason,
    last_exit_code: s.last_exit_code, last_exit_oom_killed: !!s.last_exit_oom_killed,
    last_error: s.last_error, next_restart_at_ms: s.next_restart_at_ms,
  }));
  const report = {
    ashtray: { version: host.version, commit: host.commit, ui: inWindow ? "window" : "browser dashboard", page },
    at: new Date().toISOString(),
    host: host.hostname, server_url: host.server_url, server: host.server, engine: host.engine,
    health: host.health, paused: host.paused, overall: host.overall, problems: host.problems,
    local_services: host.local_services, unclaimed: (host.unclaimed || []).length, services,
  };
  return `ashtray diagnostics\n${JSON.stringify(report, null, 2)}\n`;
}

function badge(el, text, tone, state) {
  el.textContent = text;
  el.dataset.tone = tone;
  el.dataset.state = state;
}

function meter(id, value) {
  $(id).textContent = percent(value);
  $(`${id}-bar`).style.width = `${Math.max(0, Math.min(100, value || 0))}%`;
}

// "12s ago" keeps moving between events.
setInterval(() => {
  const el = $("host-heartbeat");
  if (el?.dataset.at) el.textContent = ago(Number(el.dataset.at));
  if (shown && !$("banner").hidden) $("banner-text").textContent = bannerText(shown.host, shown.inWindow);
}, 1000);
