// Logging in, signing up, and the list of the user's sessions.

import { del, get, post } from "./api.js";
import { busy, byId, h, onSubmit, showError, when } from "./dom.js";

function credentials(form) {
  return { email: form.elements.email.value, password: form.elements.password.value };
}

// `signedIn(user)` is called after a login or a sign-up (which logs in).
export function init({ signedIn }) {
  const login = byId("login-form");
  const register = byId("register-form");
  const done = async (user) => {
    login.reset();
    register.reset();
    await signedIn(user);
  };
  onSubmit(login, async () => {
    await done(await post("/auth/login", credentials(login)));
  });
  onSubmit(register, async () => {
    const body = credentials(register);
    await post("/auth/register", body);
    await done(await post("/auth/login", body));
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
