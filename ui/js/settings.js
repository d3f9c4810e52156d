// The Settings page (window only): everything goes through the app's Tauri commands; the
// API key field is write-only: the page never receives the stored key, only whether one is.

const $ = (id) => document.getElementById(id);

export class SettingsPage {
  constructor(invoke, { onSaved }) {
    this.invoke = invoke;
    this.onSaved = onSaved;
    this.current = null;
    $("settings-form").addEventListener("submit", (event) => { event.preventDefault(); this.save(); });
    $("settings-test").addEventListener("click", () => this.test());
    $("settings-open-log").addEventListener("click", () => this.invoke("open_log").catch((e) => this.result(String(e), "bad")));
  }

  async load() {
    const s = await this.invoke("load_settings");
    this.current = s;
    $("set-server-url").value = s.server_url || "";
    $("set-hostname").value = s.hostname || "";
    $("set-hostname").placeholder = s.default_hostname || "";
    $("set-poll-interval").value = s.poll_interval_secs ?? 2;
    $("set-engine-socket").value = s.engine_socket || "";
    $("set-engine-socket").placeholder = s.default_engine_socket || "unix:///var/run/docker.sock";
    $("set-services-file").value = s.services_file || "";
    $("set-start-at-login").checked = !!s.start_at_login;
    $("set-api-key").value = "";
    $("settings-log-path").textContent = s.log_file ? `Log file: ${s.log_file}` : "";
    $("settings-intro").hidden = !!s.configured;

    const key = $("keyring-status");
    const input = $("set-api-key");
    if (s.key.from_env) {
      key.textContent = "AYON_API_KEY is set in ashtray's environment (or .env): it is used instead of the key in the keyring.";
      key.dataset.tone = "";
      input.placeholder = "set by AYON_API_KEY";
    } else if (!s.keyring.available) {
      key.textContent = `No OS keyring is available, so ashtray cannot keep an API key: ${s.keyring.problem}. ` +
        "Start a keyring (Secret Service, e.g. GNOME Keyring or KWallet) or set AYON_API_KEY in the environment.";
      key.dataset.tone = "bad";
      input.placeholder = "no keyring available";
    } else if (s.key.stored) {
      key.textContent = "A key is stored in the OS keyring. Type a new one only to replace it.";
      key.dataset.tone = "ok";
      input.placeholder = "•••••••• (stored in the keyring)";
    } else {
      key.textContent = "The key goes to the OS keyring, never to a file.";
      key.dataset.tone = "";
      input.placeholder = "paste the service user's API key";
    }
    if (s.host_error) this.result(s.host_error, "bad");
    else $("settings-result").hidden = true;
    return s;
  }

  form() {
    const interval = parseFloat($("set-poll-interval").value);
    return {
      server_url: $("set-server-url").value.trim(),
      hostname: $("set-hostname").value.trim() || null,
      poll_interval_secs: Number.isFinite(interval) ? interval : null,
      engine_socket: $("set-engine-socket").value.trim() || null,
      services_file: $("set-services-file").value.trim() || null,
      start_at_login: $("set-start-at-login").checked,
    };
  }

  key() {
    const value = $("set-api-key").value.trim();
    return value || null;
  }

  async test() {
    this.result("Testing…", "info");
    try {
      const user = await this.invoke("test_connection", { serverUrl: $("set-server-url").value.trim(), apiKey: this.key() });
      this.result(`Connected as service user ${user}.`, "ok", user);
    } catch (error) {
      this.result(String(error), "bad");
    }
  }

  async save() {
    this.result("Saving…", "info");
    $("settings-save").disabled = true;
    try {
      await this.invoke("save_settings", { settings: this.form(), apiKey: this.key() });
      $("set-api-key").value = "";
      await this.load();
      this.result("Saved. ashtray is serving this host's services.", "ok");
      this.onSaved();
    } catch (error) {
      this.result(String(error), "bad");
    } finally {
      $("settings-save").disabled = false;
    }
  }

  result(text, tone, user) {
    const el = $("settings-result");
    el.hidden = false;
    el.textContent = text;
    el.dataset.tone = tone;
    if (user) el.dataset.user = user; else delete el.dataset.user;
  }
}
