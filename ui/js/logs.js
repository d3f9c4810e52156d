// The log pane of one service: the recent lines, then live lines as they come (SSE), with
// pause, search as you type, copy, download, timestamps and wrap toggles, stderr marked,
// and a marker where lines were dropped.
//
// It keeps at most MAX_LINES lines in memory and in the page, so a chatty service cannot
// grow the window without bound; while paused, new lines wait in the same bounded buffer.
// New lines are drawn in batches, at most DRAWS_PER_SECOND times a second, never one by
// one: a service printing thousands of lines a second would otherwise keep the page busy
// laying out and redrawing the pane for every line, and the window would stop answering.

import { copyText, saveText } from "./clipboard.js";
import { clock, h } from "./format.js";

// As many as ashtray keeps of a service (5 000), so more than it sends a slow reader
// after telling it of a gap (4 096): with fewer, the marker of the gap would be pushed
// out of the pane by the very lines that follow it.
const MAX_LINES = 5000;
const BACKLOG = 500;
const DRAWS_PER_SECOND = 10;

export class LogPane {
  constructor(root, api, { toast = () => {} } = {}) {
    this.root = root;
    this.api = api;
    this.toast = toast;
    this.el = {
      title: root.querySelector("#log-service"),
      lines: root.querySelector("#log-lines"),
      search: root.querySelector("#log-search"),
      matches: root.querySelector("#log-matches"),
      pause: root.querySelector("#log-pause"),
      copy: root.querySelector("#log-copy"),
      download: root.querySelector("#log-download"),
      times: root.querySelector("#log-times"),
      wrap: root.querySelector("#log-wrap"),
      close: root.querySelector("#log-close"),
      status: root.querySelector("#log-status"),
    };
    this.entries = []; // {kind: "line"|"dropped", ..., node: its element once drawn}
    this.fresh = []; // entries added since the last draw, not drawn yet
    this.drawing = 0; // the timer that draws them, if one is set
    this.paused = false;
    this.pending = 0;
    this.source = null;
    this.service = null;
    this.el.search.addEventListener("input", () => this.redraw());
    this.el.search.addEventListener("keydown", (e) => { if (e.key === "Escape") { this.el.search.value = ""; this.redraw(); } });
    this.el.pause.addEventListener("click", () => this.setPaused(!this.paused));
    this.el.copy.addEventListener("click", () => this.copy());
    this.el.download.addEventListener("click", () => this.download());
    // Shown or not, wrapped or not: a matter of the page's style, no line is drawn again.
    this.el.times.addEventListener("click", () => this.toggle("times", this.el.times));
    this.el.wrap.addEventListener("click", () => this.toggle("wrap", this.el.wrap));
    this.el.close.addEventListener("click", () => this.close());
  }

  /** Opens the pane on `service`; `note` (the error of a service whose container never
   * ran) heads it, so a pane with no output still says why. */
  open(service, note = "") {
    if (this.service === service && this.source) return;
    this.close();
    this.service = service;
    this.note = note;
    this.entries = [];
    this.fresh = [];
    this.pending = 0;
    this.root.hidden = false;
    this.root.dataset.service = service;
    this.el.title.textContent = service;
    this.el.lines.replaceChildren(...this.noteNodes());
    this.setPaused(false);
    // In view at once, its status line included, without a page scroll.
    // (After the click's own scrolling and the next layout.)
    requestAnimationFrame(() => this.root.scrollIntoView({ block: "nearest" }));
    this.setStatus("connecting…");
    const source = this.api.followLogs(service, BACKLOG);
    this.source = source;
    source.addEventListener("open", () => this.setStatus("following live"));
    source.addEventListener("line", (event) => this.add({ kind: "line", ...JSON.parse(event.data) }));
    source.addEventListener("missed", (event) => {
      // The API's `Missed` view: how many lines this reader lost.
      const { missed } = JSON.parse(event.data);
      this.add({ kind: "dropped", count: missed });
    });
    source.addEventListener("error", () => {
      if (this.source === source) this.setStatus("reconnecting…");
    });
  }

  noteNodes() {
    return this.note ? [h("div", { class: "log-note", "data-role": "note" }, `No output: ${this.note}`)] : [];
  }

  close() {
    this.source?.close();
    this.source = null;
    this.service = null;
    this.root.hidden = true;
  }

  add(entry) {
    this.entries.push(entry);
    if (this.entries.length > MAX_LINES) {
      for (const old of this.entries.splice(0, this.entries.length - MAX_LINES)) {
        old.gone = true;
        // While paused the lines shown stay put; resuming draws the buffer afresh.
        if (!this.paused) old.node?.remove();
      }
    }
    if (this.paused) {
      this.pending += 1;
      this.setStatus(`paused · ${this.pending} new line${this.pending === 1 ? "" : "s"} waiting`);
      return;
    }
    this.fresh.push(entry);
    if (this.fresh.length > MAX_LINES) this.fresh = this.fresh.filter((e) => !e.gone);
    if (!this.drawing) this.drawing = setTimeout(() => this.drawFresh(), 1000 / DRAWS_PER_SECOND);
  }

  /** Appends what came since the last draw, in one go. */
  drawFresh() {
    this.drawing = 0;
    const fresh = this.fresh.filter((e) => !e.gone);
    this.fresh = [];
    if (this.paused || !fresh.length) return;
    const query = this.query();
    const atBottom = this.atBottom();
    const nodes = [];
    for (const entry of fresh) {
      entry.node = this.render(entry, query);
      entry.drawn = true;
      if (entry.node) nodes.push(entry.node);
    }
    this.el.lines.append(...nodes);
    if (atBottom) this.el.lines.scrollTop = this.el.lines.scrollHeight;
    this.updateMatches();
  }

  query() { return this.el.search.value.trim().toLowerCase(); }

  atBottom() {
    const l = this.el.lines;
    return l.scrollHeight - l.scrollTop - l.clientHeight < 40;
  }

  /** One entry as a node, or null when the search hides it. */
  render(entry, query) {
    if (entry.kind === "dropped") {
      return h("div", { class: "log-dropped", "data-role": "dropped" },
        `⋯ ${entry.count} line${entry.count === 1 ? "" : "s"} dropped (the log went faster than this pane could read) ⋯`);
    }
    const text = entry.text ?? "";
    if (query && !text.toLowerCase().includes(query)) return null;
    const line = h("div", { class: "log-line", "data-seq": String(entry.seq), "data-stderr": String(!!entry.stderr),
      title: entry.stderr ? "stderr" : null },
      h("span", { class: "ts" }, clock(entry.at_ms)));
    if (query) {
      const lower = text.toLowerCase();
      let from = 0;
      for (let at = lower.indexOf(query); at !== -1; at = lower.indexOf(query, from)) {
        line.append(text.slice(from, at), h("mark", {}, text.slice(at, at + query.length)));
        from = at + query.length;
      }
      line.append(text.slice(from));
    } else {
      line.append(text);
    }
    return line;
  }

  redraw() {
    const query = this.query();
    this.fresh = [];
    for (const entry of this.entries) { entry.node = this.render(entry, query); entry.drawn = true; }
    const nodes = this.entries.map((e) => e.node).filter(Boolean);
    this.el.lines.replaceChildren(...this.noteNodes(), ...nodes);
    this.el.lines.scrollTop = this.el.lines.scrollHeight;
    this.updateMatches();
  }

  updateMatches() {
    const query = this.query();
    if (!query) { this.el.matches.textContent = ""; return; }
    const n = this.el.lines.querySelectorAll(".log-line").length;
    this.el.matches.textContent = `${n} match${n === 1 ? "" : "es"}`;
  }

  setPaused(paused) {
    this.paused = paused;
    this.el.pause.setAttribute("aria-pressed", String(paused));
    this.el.pause.textContent = paused ? "Resume" : "Pause";
    if (!paused) {
      if (this.pending) this.redraw();
      this.pending = 0;
      if (this.source) this.setStatus("following live");
    } else {
      this.setStatus("paused");
    }
  }

  setStatus(text) { this.el.status.textContent = text; }

  /** The lines shown (after the search; not those held back by Pause), as plain text with
   * their time when the pane shows it. */
  shownLines() {
    const query = this.query();
    const times = this.root.dataset.times !== "off";
    return this.entries
      .filter((e) => e.kind === "line" && e.drawn && (!query || e.text.toLowerCase().includes(query)))
      .map((e) => (times ? `${clock(e.at_ms)} ${e.text}` : e.text));
  }

  shownText() { return this.shownLines().join("\n"); }

  async copy() {
    const lines = this.shownLines();
    const copied = await copyText(lines.join("\n"));
    this.el.copy.textContent = copied ? "Copied" : "Copy failed";
    setTimeout(() => { this.el.copy.textContent = "Copy"; }, 1500);
    this.toast(copied ? `Copied ${lines.length} line${lines.length === 1 ? "" : "s"} of ${this.service}`
      : "The clipboard refused the copy: select the lines and copy them by hand");
  }

  /** The whole buffer as a file, held-back lines and stderr included: full ISO times, a
   * stream tag per line, a note where lines were dropped. */
  download() {
    const text = this.entries.map((e) => (e.kind === "dropped"
      ? `# ${e.count} line${e.count === 1 ? "" : "s"} dropped here`
      : `${new Date(e.at_ms).toISOString()} ${e.stderr ? "stderr" : "stdout"} ${e.text}`)).join("\n");
    const lines = this.entries.filter((e) => e.kind === "line").length;
    const name = `${this.service}-${new Date().toISOString().replace(/[:.]/g, "-")}.log`;
    saveText(name, text ? `${text}\n` : "");
    this.toast(`Saved ${lines} line${lines === 1 ? "" : "s"} of ${this.service} as ${name}`);
  }

  toggle(what, button) {
    const on = this.root.dataset[what] === "off";
    this.root.dataset[what] = on ? "on" : "off";
    button.setAttribute("aria-pressed", String(on));
  }
}
