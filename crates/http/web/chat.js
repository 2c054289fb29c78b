// Conversations: the list (newest first, a page at a time), a new one,
// one opened with its history, messages sent and their answers streamed
// in as they arrive, a stream stopped, a conversation deleted.

import { del, get, post, streamMessage } from "./api.js";
import { busy, byId, h, showError, when } from "./dom.js";

const PAGE = 20;

let loaded = false;
let nextBefore = null;
// The conversation on screen: {id, title, model, system_prompt, ...}.
let current = null;
// The answers streaming now, by conversation id: their AbortControllers.
const streams = new Map();

export function init() {
  const form = byId("new-conversation");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form.querySelector("button[type=submit]"), form.querySelector("[role=alert]"), async () => {
      const body = { model: form.elements.model.value };
      const title = form.elements.title.value.trim();
      const systemPrompt = form.elements.system_prompt.value.trim();
      if (title) body.title = title;
      if (systemPrompt) body.system_prompt = systemPrompt;
      const conversation = await post("/playground/conversations", body);
      form.elements.title.value = "";
      form.elements.system_prompt.value = "";
      byId("conversations").prepend(listItem(conversation));
      location.hash = `#/chat/${encodeURIComponent(conversation.id)}`;
    });
  });
  byId("older-conversations").addEventListener("click", (event) =>
    busy(event.currentTarget, byId("conversations-error"), () => loadConversations(nextBefore)),
  );
  byId("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  byId("message").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  byId("stop").addEventListener("click", () => {
    if (current) streams.get(current.id)?.abort();
  });
  const remove = byId("delete-conversation");
  remove.addEventListener("click", () => {
    // Two clicks: the first asks.
    if (remove.dataset.armed !== "true") {
      remove.dataset.armed = "true";
      remove.textContent = "Delete: sure?";
      setTimeout(disarm, 4000);
      return;
    }
    disarm();
    busy(remove, byId("chat-error"), async () => {
      const id = current.id;
      await del(`/playground/conversations/${encodeURIComponent(id)}`);
      byId("conversations").querySelector(`[data-conversation="${CSS.escape(id)}"]`)?.remove();
      location.hash = "#/chat";
    });
  });
}

function disarm() {
  const remove = byId("delete-conversation");
  remove.dataset.armed = "false";
  remove.textContent = "Delete";
}

export function reset() {
  for (const controller of streams.values()) controller.abort();
  streams.clear();
  loaded = false;
  nextBefore = null;
  current = null;
  byId("conversations").replaceChildren();
  byId("new-conversation").elements.model.replaceChildren();
  close();
}

export async function show(id) {
  if (!loaded) {
    loaded = true;
    byId("conversations").replaceChildren();
    await Promise.all([loadModels(), loadConversations(null)]);
  }
  if (id) await open(id);
  else close();
}

async function loadModels() {
  const form = byId("new-conversation");
  try {
    const { models } = await get("/playground/models");
    form.elements.model.replaceChildren(
      ...models.map((m) => h("option", { value: m.id }, m.description ? `${m.id} (${m.description})` : m.id)),
    );
  } catch (err) {
    showError(form.querySelector("[role=alert]"), err);
  }
}

const titleOf = (conversation) => conversation.title ?? "Untitled conversation";

function listItem(conversation) {
  return h(
    "li",
    { "data-conversation": conversation.id },
    h("a", { href: `#/chat/${encodeURIComponent(conversation.id)}` }, titleOf(conversation)),
    h("span", { class: "muted" }, `${conversation.model} · ${when(conversation.created_at)}`),
  );
}

async function loadConversations(before) {
  showError(byId("conversations-error"), null);
  let query = `?limit=${PAGE}`;
  if (before) query += `&before=${encodeURIComponent(before)}`;
  try {
    const page = await get(`/playground/conversations${query}`);
    byId("conversations").append(...page.items.map(listItem));
    nextBefore = page.next_before;
    byId("older-conversations").hidden = !nextBefore;
  } catch (err) {
    showError(byId("conversations-error"), err);
  }
}

function markOpen() {
  for (const item of byId("conversations").children) {
    const link = item.querySelector("a");
    if (current && item.dataset.conversation === current.id) link.setAttribute("aria-current", "true");
    else link.removeAttribute("aria-current");
  }
}

function close() {
  current = null;
  byId("conversation").hidden = true;
  byId("conversation-empty").hidden = false;
  byId("messages").replaceChildren();
  showError(byId("chat-error"), null);
  markOpen();
}

function messageItem(message, model) {
  return h(
    "li",
    { class: `message ${message.role}` },
    h("span", { class: "role" }, message.role === "user" ? "You" : model),
    h("div", { class: "text" }, message.content),
    h("span", { class: "meta muted" }, message.created_at ? when(message.created_at) : ""),
  );
}

async function open(id) {
  let conversation;
  try {
    conversation = await get(`/playground/conversations/${encodeURIComponent(id)}`);
  } catch (err) {
    close();
    showError(byId("page-error"), err);
    return;
  }
  current = conversation;
  disarm();
  showError(byId("chat-error"), null);
  byId("conversation-empty").hidden = true;
  byId("conversation").hidden = false;
  byId("conversation-title").textContent = titleOf(conversation);
  byId("conversation-meta").textContent = `${conversation.model} · started ${when(conversation.created_at)}`;
  const system = byId("system-prompt");
  system.hidden = !conversation.system_prompt;
  system.textContent = conversation.system_prompt ? `System: ${conversation.system_prompt}` : "";
  byId("messages").replaceChildren(...conversation.messages.map((m) => messageItem(m, conversation.model)));
  buttons();
  markOpen();
  scrollDown();
  byId("message").focus();
}

// Send or Stop, as the conversation on screen is streaming or not.
function buttons() {
  const streaming = current !== null && streams.has(current.id);
  byId("send").hidden = streaming;
  byId("stop").hidden = !streaming;
}

function scrollDown() {
  const list = byId("messages");
  list.lastElementChild?.scrollIntoView({ block: "end" });
}

const usageLine = (usage) =>
  `${usage.prompt_tokens} prompt + ${usage.completion_tokens} completion tokens`;

async function send() {
  const conversation = current;
  const box = byId("message");
  const content = box.value;
  if (!conversation || streams.has(conversation.id) || content.trim() === "") return;
  const alert = byId("chat-error");
  showError(alert, null);
  const mine = messageItem({ role: "user", content }, conversation.model);
  const answer = messageItem({ role: "assistant", content: "" }, conversation.model);
  answer.classList.add("streaming");
  answer.setAttribute("aria-busy", "true");
  byId("messages").append(mine, answer);
  box.value = "";
  scrollDown();
  const controller = new AbortController();
  streams.set(conversation.id, controller);
  buttons();
  const text = answer.querySelector(".text");
  const meta = answer.querySelector(".meta");
  try {
    const done = await streamMessage(conversation.id, content, {
      signal: controller.signal,
      onDelta: (delta) => {
        text.append(delta);
        scrollDown();
      },
    });
    text.textContent = done.assistant_message.content;
    meta.textContent = `${when(done.assistant_message.created_at)} · ${usageLine(done.usage)}`;
    mine.querySelector(".meta").textContent = when(done.assistant_message.created_at);
  } catch (err) {
    const here = current?.id === conversation.id;
    if (err.name === "AbortError") {
      answer.classList.add("stopped");
      meta.textContent = "Stopped: this exchange was not saved.";
    } else {
      mine.remove();
      answer.remove();
      if (here) showError(alert, err);
    }
    // Nothing of it was saved: the message is back in the box to retry.
    if (here && box.value === "") box.value = content;
  } finally {
    answer.classList.remove("streaming");
    answer.removeAttribute("aria-busy");
    streams.delete(conversation.id);
    buttons();
  }
}
