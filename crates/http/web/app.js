// The playground's entry point: who is signed in, and which view the
// address's fragment names (#/chat, #/chat/<id>, #/keys, #/usage,
// #/sessions), so a reload comes back to the same place.

import { get, post, UNAUTHENTICATED } from "./api.js";
import { byId, showError } from "./dom.js";
import * as account from "./account.js";
import * as chat from "./chat.js";
import * as keys from "./keys.js";
import * as usage from "./usage.js";

const VIEWS = {
  chat: chat.show,
  keys: keys.show,
  usage: usage.show,
  sessions: account.showSessions,
};

let user = null;

function showView(name) {
  // A new key is shown once: leaving its view forgets it.
  if (name !== "keys") keys.hide();
  for (const section of document.querySelectorAll("main > .view")) {
    section.hidden = section.id !== `view-${name}`;
  }
  for (const link of byId("nav").querySelectorAll("a")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const signedIn = name !== "auth";
  byId("nav").hidden = !signedIn;
  byId("account").hidden = !signedIn;
}

async function route() {
  showError(byId("page-error"), null);
  if (!user) {
    showView("auth");
    return;
  }
  const [, name, arg] = location.hash.split("/");
  const view = Object.hasOwn(VIEWS, name ?? "") ? name : "chat";
  let decoded = null;
  try {
    decoded = arg ? decodeURIComponent(arg) : null;
  } catch {
    // Not an id this page wrote: the view without it.
  }
  showView(view);
  await VIEWS[view](decoded);
}

// Signed in as `who`: the account line, then the view asked for.
async function signedIn(who) {
  user = who;
  byId("who").textContent = who.email;
  await route();
}

// Signed out (by the button, or because the session ended): nothing of
// the last user's stays on the page.
function signedOut(message) {
  user = null;
  chat.reset();
  keys.reset();
  usage.reset();
  account.reset();
  byId("who").textContent = "";
  showView("auth");
  if (message) showError(byId("page-error"), new Error(message));
  byId("login-form").elements.email.focus();
}

async function start() {
  account.init({ signedIn });
  chat.init();
  keys.init();
  byId("logout").addEventListener("click", async () => {
    try {
      await post("/auth/logout");
    } catch (err) {
      if (err.status !== 401) {
        showError(byId("page-error"), err);
        return;
      }
    }
    // The next person to log in here starts from the beginning.
    history.replaceState(null, "", location.pathname);
    signedOut();
  });
  window.addEventListener(UNAUTHENTICATED, () => {
    if (user) signedOut("Your session has ended: log in again.");
  });
  window.addEventListener("hashchange", () => route().catch((err) => showError(byId("page-error"), err)));
  let me = null;
  try {
    me = await get("/auth/me");
  } catch (err) {
    if (err.status !== 401) showError(byId("page-error"), err);
  }
  if (me) {
    await signedIn(me).catch((err) => showError(byId("page-error"), err));
  } else {
    showView("auth");
    byId("login-form").elements.email.focus();
  }
  document.body.dataset.ready = "true";
}

start();
