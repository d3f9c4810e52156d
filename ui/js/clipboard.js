// Copying and saving text for the user: one way for the log pane, the detail view and
// "Copy diagnostics", each of which says in a toast how it went.

import { h } from "./format.js";

/** Puts `text` on the clipboard; resolves to whether it worked. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Some webviews refuse the async clipboard: the old way still works there.
    const area = h("textarea", { style: "position:fixed;opacity:0" });
    area.value = text;
    document.body.append(area);
    area.select();
    const copied = document.execCommand("copy");
    area.remove();
    return copied;
  }
}

/** Offers `text` as a file named `name` (the browser's download). */
export function saveText(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
  const link = h("a", { href: url, download: name, style: "display:none" });
  document.body.append(link);
  link.click();
  link.remove();
  // After the click has handed the blob on.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
