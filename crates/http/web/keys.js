// API keys: create one (its secret shown once, with a copy button and
// the lines that use it), list them, revoke one.

import { del, get, post } from "./api.js";
import { busy, byId, h, onSubmit, showError, when } from "./dom.js";

export function init() {
  const form = byId("new-key");
  onSubmit(form, async () => {
    const body = { name: form.elements.name.value };
    const days = form.elements.expires_in_days.value;
    if (days !== "") body.expires_in_days = Number(days);
    const created = await post("/api-keys", body);
    form.reset();
    reveal(created.key);
    await reload();
  });
  byId("copy-key").addEventListener("click", copy);
  byId("new-key-done").addEventListener("click", hide);
}

// The secret leaves the page with the view: shown once means once.
export function hide() {
  byId("new-key-shown").hidden = true;
  for (const id of ["new-key-value", "new-key-curl", "new-key-openai", "copy-status"]) {
    byId(id).textContent = "";
  }
}

export function reset() {
  hide();
  byId("new-key").reset();
  byId("keys").replaceChildren();
  showError(byId("keys-error"), null);
}

function reveal(key) {
  const gateway = `${location.origin}/v1`;
  byId("new-key-value").textContent = key;
  byId("new-key-curl").textContent = [
    `curl ${gateway}/chat/completions \\`,
    `  -H "Authorization: Bearer ${key}" \\`,
    `  -H "Content-Type: application/json" \\`,
    `  -d '{"model": "echo-1", "messages": [{"role": "user", "content": "Hello"}]}'`,
  ].join("\n");
  byId("new-key-openai").textContent = [
    "from openai import OpenAI",
    "",
    `client = OpenAI(base_url="${gateway}", api_key="${key}")`,
    'reply = client.chat.completions.create(model="echo-1", messages=[{"role": "user", "content": "Hello"}])',
    "print(reply.choices[0].message.content)",
  ].join("\n");
  byId("copy-status").textContent = "";
  byId("new-key-shown").hidden = false;
  byId("copy-key").focus();
}

async function copy() {
  const value = byId("new-key-value");
  const status = byId("copy-status");
  try {
    await navigator.clipboard.writeText(value.textContent);
    status.textContent = "Copied.";
  } catch {
    // No clipboard (an insecure origin, or refused): select it instead.
    const range = document.createRange();
    range.selectNodeContents(value);
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    status.textContent = "Selected: press Ctrl+C to copy.";
  }
}

function keyRow(key) {
  return h(
    "tr",
    { "data-key": key.id },
    h("td", {}, key.name),
    h("td", {}, h("code", {}, `${key.prefix}…`)),
    h("td", {}, when(key.created_at)),
    h("td", {}, key.expires_at ? when(key.expires_at) : "never"),
    h("td", {}, when(key.last_used_at)),
    h(
      "td",
      {},
      h(
        "button",
        {
          type: "button",
          class: "danger",
          "aria-label": `Revoke ${key.name}`,
          onclick: (event) =>
            busy(event.currentTarget, byId("keys-error"), async () => {
              await del(`/api-keys/${encodeURIComponent(key.id)}`);
              await reload();
            }),
        },
        "Revoke",
      ),
    ),
  );
}

async function reload() {
  const keys = await get("/api-keys");
  byId("keys").replaceChildren(...keys.map(keyRow));
  byId("keys-empty").hidden = keys.length > 0;
}

export async function show() {
  hide();
  showError(byId("keys-error"), null);
  try {
    await reload();
  } catch (err) {
    showError(byId("keys-error"), err);
  }
}
