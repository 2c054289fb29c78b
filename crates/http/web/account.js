// Logging in, signing up, and the list of the user's sessions.

import { del, get, post } from "./api.js";
import { busy, byId, h, showError, when } from "./dom.js";

const alertOf = (form) => form.querySelector("[role=alert]");

function credentials(form) {
  return { email: form.elements.email.value, password: form.elements.password.value };
}

// `signedIn(user)` is called after a login or a sign-up (which logs in).
export function init({ signedIn }) {
  const login = byId("login-form");
  const register = byId("register-form");
  const done = async (form, user) => {
    login.reset();
    register.reset();
    showError(alertOf(form), null);
    await signedIn(user);
  };
  login.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(login.querySelector("button"), alertOf(login), async () => {
      await done(login, await post("/auth/login", credentials(login)));
    });
  });
  register.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(register.querySelector("button"), alertOf(register), async () => {
      const body = credentials(register);
      await post("/auth/register", body);
      await done(register, await post("/auth/login", body));
    });
  });
}

export function reset() {
  byId("sessions").replaceChildren();
  showError(byId("sessions-error"), null);
}

function sessionRow(session, reload) {
  const action = session.current
    ? h("span", { class: "badge" }, "this browser")
    : h(
        "button",
        {
          type: "button",
          class: "danger",
          onclick: (event) =>
            busy(event.currentTarget, byId("sessions-error"), async () => {
              await del(`/auth/sessions/${encodeURIComponent(session.id)}`);
              await reload();
            }),
        },
        "Revoke",
      );
  return h(
    "tr",
    { "data-session": session.id },
    h("td", { class: "agent" }, session.user_agent ?? "unknown"),
    h("td", {}, when(session.created_at)),
    h("td", {}, when(session.last_seen_at)),
    h("td", {}, when(session.expires_at)),
    h("td", {}, action),
  );
}

export async function showSessions() {
  const reload = async () => {
    const sessions = await get("/auth/sessions");
    byId("sessions").replaceChildren(...sessions.map((s) => sessionRow(s, reload)));
  };
  showError(byId("sessions-error"), null);
  try {
    await reload();
  } catch (err) {
    showError(byId("sessions-error"), err);
  }
}
