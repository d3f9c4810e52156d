// Starts the UI: in the Tauri window it asks the app for the API's URL and token (and
// owns Settings); in a browser it asks for the token and keeps it for the session only.
// After that everything comes from the service API, live from `/api/v1/events`.

import { ApiClient, Unauthorized } from "./api.js";
import { copyText } from "./clipboard.js";
import { DetailPane } from "./details.js";
import { diagnostics, renderHost, renderOverall } from "./host.js";
import { LogPane } from "./logs.js";
import { ServiceList } from "./services.js";
import { SettingsPage } from "./settings.js";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "ashtray.token";
const tauri = window.__TAURI__;

const state = { api: null, events: null, host: null, list: null, logs: null, details: null, settings: null };

function show(view) {
  document.body.dataset.view = view;
  for (const button of document.querySelectorAll("[data-nav]")) {
    if (button.dataset.nav === view) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
}

function toast(text) {
  const el = $("toast");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 4000);
}

function setLive(on) { $("live").dataset.live = on ? "on" : "off"; }

function render(host) {
  state.host = host;
  renderHost(host, { inWindow: !!tauri });
  const services = host.services || [];
  state.list.render(services);
  // A service the server no longer assigns has no log to follow.
  if (state.logs.service && !services.some((s) => s.name === state.logs.service)) state.logs.close();
  if (state.details.service && !services.some((s) => s.name === state.details.service)) state.details.close();
}

/** The error of a service whose container never ran: what its empty log pane says. */
function neverRan(name) {
  const s = state.host?.services?.find((x) => x.name === name);
  return s && !s.container_id && s.last_error ? s.last_error : "";
}

/** Asks in the page's own dialog; resolves to whether the user said yes. */
function confirmWith(title, text, ok) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = ok;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    $("confirm-cancel").focus();
  });
}

/** Connects to the API and follows its events; throws Unauthorized for a bad token. */
async function connect(baseUrl, token) {
  state.events?.close();
  state.logs?.close();
  state.details?.close();
  const api = new ApiClient(baseUrl, token);
  const host = await api.host();
  state.api = api;
  state.logs.api = api;
  state.details.api = api;
  render(host);
  follow(api);
  pollStats();
  return host;
}

// CPU and memory: the engine streams them per container; the page reads the latest
// every 2 s while the list is shown (one cheap request for all services).
async function pollStats() {
  clearTimeout(pollStats.timer);
  const api = state.api;
  if (api && document.body.dataset.view === "services" && !document.hidden) {
    try {
      const stats = await api.stats();
      if (api === state.api) {
        state.list.setStats(stats.services);
        state.details.setStats(stats.services);
      }
    } catch { /* the event stream says when the API is away */ }
  }
  pollStats.timer = setTimeout(pollStats, 2000);
}

function follow(api) {
  const events = api.events();
  state.events = events;
  events.addEventListener("open", () => setLive(true));
  events.addEventListener("state", (event) => render(JSON.parse(event.data)));
  events.addEventListener("error", async () => {
    setLive(false);
    if (events.readyState !== EventSource.CLOSED) return; // it reconnects by itself
    // Closed for good: the token may be gone (browser) or ashtray restarted.
    try {
      await api.host();
      if (state.events === events) follow(api);
    } catch (error) {
      if (error instanceof Unauthorized && !tauri) return signOut("Your token is no longer accepted.");
      renderOverall("offline");
      setTimeout(() => { if (state.events === events) follow(api); }, 2000);
    }
  });
}

const DONE = { start: "Started", stop: "Stopped", restart: "Restarted" };

/** Asks for an action and says how it went (the answer comes once the list shows it). */
async function act(name, action) {
  try {
    await state.api.act(name, action);
    toast(`${DONE[action] || action} ${name}`);
  } catch (error) {
    toast(`${action} ${name}: ${error.message}`);
  }
}

// ---- The Tauri window --------------------------------------------------------------

async function startWindow() {
  const invoke = tauri.core.invoke;
  $("nav-settings").hidden = false;
  $("quit").hidden = false;
  $("quit").addEventListener("click", async () => {
    if (await confirmWith("Quit ashtray?",
      "The window and the tray icon close. The services' containers keep running, but nothing watches or restarts them until ashtray starts again.",
      "Quit")) await invoke("quit");
  });
  // Ctrl+W (Cmd+W) closes the window as its close button does: ashtray stays in the tray.
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "w") {
      event.preventDefault();
      invoke("close_window").catch((error) => toast(String(error)));
    }
  });
  state.settings = new SettingsPage(invoke, { onSaved: () => connectWindow(true) });
  await tauri.event.listen("host-changed", () => connectWindow(false));
  await tauri.event.listen("show-settings", () => openSettings());
  // The window saves downloads itself (into the download folder) and says where.
  await tauri.event.listen("download-finished", ({ payload }) => toast(payload.success
    ? `Saved to ${payload.path}`
    : `Could not save the file${payload.path ? ` in ${payload.path}` : ""}: see ashtray's log`));
  const settings = await state.settings.load();
  if (!settings.configured) {
    renderOverall("unconfigured");
    // Said, not silently greyed: there is nothing to list before the server is set.
    $("nav-services").disabled = true;
    $("nav-services").title = "Connect to your AYON server in Settings first";
    return openSettings();
  }
  await connectWindow(false);
}

async function connectWindow(afterSave) {
  const connection = await tauri.core.invoke("connection");
  if (!connection) return openSettings();
  try {
    await connect(connection.api_url, connection.token);
    $("nav-services").disabled = false;
    $("nav-services").removeAttribute("title");
    if (afterSave || document.body.dataset.view !== "settings") show("services");
  } catch (error) {
    toast(error.message);
    openSettings();
  }
}

async function openSettings() {
  show("settings");
  await state.settings.load();
  $("set-server-url").focus();
}

// ---- The browser dashboard ---------------------------------------------------------

async function startBrowser() {
  $("sign-out").hidden = false;
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = $("login-token").value.trim();
    $("login-error").hidden = true;
    try {
      await connect(location.origin, token);
      sessionStorage.setItem(TOKEN_KEY, token);
      $("login-token").value = "";
      show("services");
    } catch (error) {
      $("login-error").textContent = error instanceof Unauthorized
        ? "This token is not accepted. `ashtray token` on the host prints the right one."
        : error.message;
      $("login-error").hidden = false;
      $("login-token").select();
    }
  });
  $("sign-out").addEventListener("click", () => signOut());
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return signOut();
  try {
    await connect(location.origin, token);
    show("services");
  } catch {
    signOut();
  }
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.events?.close();
  state.logs?.close();
  setLive(false);
  show("login");
  $("login-error").hidden = !message;
  $("login-error").textContent = message || "";
  $("login-token").focus();
}

// ---- Both --------------------------------------------------------------------------

function wire() {
  state.logs = new LogPane($("logs"), null, { toast });
  state.details = new DetailPane($("details"), { toast });
  state.list = new ServiceList($("services-body"), $("services-empty"), $("services-count"), {
    onAction: act,
    onSelect: (name) => state.logs.open(name, neverRan(name)),
    onDetails: (name) => state.details.open(name),
    onChanged: (name) => state.details.changed(name),
  });
  $("copy-diagnostics").addEventListener("click", async () => {
    if (!state.host) return;
    const copied = await copyText(diagnostics(state.host, { inWindow: !!tauri, page: navigator.userAgent }));
    toast(copied ? "Copied the diagnostics (no key or token in them)" : "The clipboard refused the copy");
  });
  $("nav-services").addEventListener("click", () => {
    if (state.api) show("services");
  });
  $("nav-settings").addEventListener("click", () => openSettings());
  $("pause-all").addEventListener("click", async () => {
    try {
      if (state.host?.paused) {
        await state.api.resume();
        toast("Resumed all services");
      } else if (await confirmWith("Pause all services?",
        "Every service on this host stops until you choose Resume all.",
        "Pause all")) {
        await state.api.pause();
        toast("Paused all services");
      }
    } catch (error) { toast(error.message); }
  });
  $("banner-settings").addEventListener("click", () => openSettings());
  document.addEventListener("keydown", (event) => {
    const typing = event.target.matches("input, textarea");
    if (event.key === "/" && !typing && !$("logs").hidden) { event.preventDefault(); $("log-search").focus(); }
    if (event.key === "Escape" && !typing && !$("logs").hidden) state.logs.close();
  });
}

wire();
(tauri ? startWindow() : startBrowser()).catch((error) => {
  console.error(error);
  toast(error.message || String(error));
});
