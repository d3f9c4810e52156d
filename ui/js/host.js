// The host panel and the top bar's one-word status, from the latest HostState.

import { ago, engineState, overall, percent, serverState } from "./format.js";

const $ = (id) => document.getElementById(id);

export function renderHost(host) {
  $("host-name").textContent = host.hostname ? `· ${host.hostname}` : "";
  renderOverall(host.overall);

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

  const problems = $("host-problems");
  problems.replaceChildren(...(host.problems || []).map((p) => Object.assign(document.createElement("li"), { textContent: p })));

  const pause = $("pause-all");
  pause.hidden = false;
  pause.textContent = host.paused ? "Resume all" : "Pause all";
  pause.dataset.paused = String(host.paused);

  const banner = $("banner");
  const why = bannerText(host);
  banner.hidden = !why;
  banner.textContent = why;
}

export function renderOverall(word) {
  const el = $("overall");
  el.dataset.overall = word;
  $("overall-text").textContent = overall(word);
}

function bannerText(host) {
  if (host.paused) return "";
  if (host.server.state === "unauthorized") return `The AYON server refuses this host's API key: ${host.server.reason || "check it in Settings"}`;
  if (host.server.state === "unreachable") return `The AYON server cannot be reached: ${host.server.reason || "no answer"}`;
  if (host.engine.state === "down") return `The container engine is down: ${host.engine.reason || "no answer"}`;
  if (host.local_services?.error) return `${host.local_services.error}: its last good services keep running until it is fixed`;
  return "";
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
}, 1000);
