// A webhook endpoint's signing secret, shown once: in the value of one read-only input (never
// storage, a URL, an announcement or the console) until "I have saved it", the next secret,
// sign-out, leaving the page or a reload. Copy uses the clipboard, or selects it for Ctrl+C.

import { byId, setText, show } from "./dom.js";
import { formatTime } from "./format.js";

export class SecretBox {
  // onDone(): where the keyboard goes once the person has saved it.
  constructor({ onDone }) {
    this.box = byId("webhook-secret");
    this.input = byId("webhook-secret-value");
    this.about = byId("webhook-secret-about");
    this.note = byId("webhook-secret-copied");
    byId("webhook-secret-copy").addEventListener("click", () => this.copy());
    byId("webhook-secret-done").addEventListener("click", () => {
      this.hide();
      onDone();
    });
    // A page the browser keeps to come back to (back/forward) holds no secret.
    window.addEventListener("pagehide", () => this.hide());
  }

  show(endpoint, secret, previousExpiresAt) {
    this.input.value = secret;
    const overlap = previousExpiresAt ? ` The previous secret also signs until ${formatTime(previousExpiresAt)}.` : "";
    setText(
      this.about,
      `The signing secret of ${endpoint.url}. Copy it now and keep it with your receiver: it is shown this once, and never again.${overlap}`,
    );
    setText(this.note, "");
    show(this.box);
    this.box.focus();
  }

  hide() {
    this.input.value = "";
    setText(this.about, "");
    setText(this.note, "");
    show(this.box, false);
  }

  async copy() {
    try {
      if (!navigator.clipboard || !navigator.clipboard.writeText) throw new Error("no clipboard here");
      await navigator.clipboard.writeText(this.input.value);
      setText(this.note, "Copied to the clipboard.");
    } catch (error) {
      // The browser would not write the clipboard (no permission, not a secure origin): the
      // secret is selected instead, for the person to copy by keyboard.
      this.input.focus();
      this.input.select();
      setText(this.note, "The browser did not let the page copy it: the secret is selected, press Ctrl+C (⌘C on a Mac) to copy it.");
    }
  }
}
