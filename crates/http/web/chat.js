// Conversations: the list (newest first, a page at a time), a new one,
// one opened with its history, messages sent and their answers streamed
// in as they arrive, a stream stopped, a conversation deleted.

import { del, get, post, streamMessage } from "./api.js";
import { busy, byId, h, onSubmit, showError, when } from "./dom.js";

const PAGE = 20;

let loaded = false;
let nextBefore = null;
// The conversation on screen: {id, title, model, system_prompt, ...}.
let current = null;
// The answers streaming now, by conversation id: {controller, nodes}, the
// nodes being the question's and the answer's on-screen items (put back
// when the conversation is reopened before the answer ends).
const streams = new Map();
// Bumped by every reset() (a list asked for before a logout is dropped),
// and with every open() (a slow conversation must not replace the one
// chosen after it).
let epoch = 0;
let opening = 0;

export function init() {
  const form = byId("new-conversation");
  onSubmit(form, async () => {
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
    if (current) streams.get(current.id)?.controller.abort();
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
      const list = byId("conversations");
      list.querySelector(`[data-conversation="${CSS.escape(id)}"]`)?.remove();
      if (nextBefore === id) {
        // The page cursor is gone: the oldest one left serves instead.
        nextBefore = list.lastElementChild?.dataset.conversation ?? null;
        if (!nextBefore) await loadConversations(null);
      }
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
  epoch += 1;
  opening += 1;
  for (const { controller } of streams.values()) controller.abort();
  streams.clear();
  byId("message").value = "";
  byId("new-conversation").reset();
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
  const asked = epoch;
  try {
    const page = await get(`/playground/conversations${query}`);
    if (asked !== epoch) return;
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
  opening += 1;
  const asked = opening;
  let conversation;
  try {
    conversation = await get(`/playground/conversations/${encodeURIComponent(id)}`);
  } catch (err) {
    if (asked !== opening) return;
    close();
    showError(byId("page-error"), err);
    return;
  }
  if (asked !== opening) return;
  if (current?.id !== conversation.id) byId("message").value = "";
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
  byId("messages").replaceChildren(
    ...conversation.messages.map((m) => messageItem(m, conversation.model)),
    ...(streams.get(conversation.id)?.nodes ?? []),
  );
  buttons();
  markOpen();
  scrollDown();
  byId("message").focus();
}

// Send or Stop, as the conversation on screen is streaming or not.
function buttons() {
  const streaming = current !== null && streams.has(current.id);
  const [send, stop] = [byId("send"), byId("stop")];
  // The focus does not fall to the page when its button goes.
  const focused = document.activeElement;
  send.hidden = streaming;
  stop.hidden = !streaming;
  if ((focused === send && streaming) || (focused === stop && !streaming)) {
    (streaming ? stop : byId("message")).focus();
  }
}

// Keeps the end of `item`'s conversation in view, if it is on screen.
function scrollDown(item = byId("messages").lastElementChild) {
  if (item?.isConnected) item.scrollIntoView({ block: "end" });
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
  scrollDown(answer);
  const controller = new AbortController();
  streams.set(conversation.id, { controller, nodes: [mine, answer] });
  buttons();
  const text = answer.querySelector(".text");
  const meta = answer.querySelector(".meta");
  try {
    const done = await streamMessage(conversation.id, content, {
      signal: controller.signal,
      onDelta: (delta) => {
        text.append(delta);
        scrollDown(answer);
      },
    });
    text.textContent = done.assistant_message.content;
    meta.textContent = `${when(done.assistant_message.created_at)} · ${usageLine(done.usage)}`;
    mine.querySelector(".meta").textContent = when(done.assistant_message.created_at);
    announce(answer.isConnected ? "The answer is complete." : "");
  } catch (err) {
    const here = current?.id === conversation.id;
    if (err.name === "AbortError") {
      answer.classList.add("stopped");
      meta.textContent = "Stopped: this exchange was not saved.";
      announce("Stopped.");
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
    if (streams.get(conversation.id)?.controller === controller) streams.delete(conversation.id);
    buttons();
  }
}

// Said to screen readers (the messages themselves are not a live region:
// a whole history, or every word of an answer, would be read out).
function announce(message) {
  byId("chat-status").textContent = message;
}
