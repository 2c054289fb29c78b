// Building the page. Text is only ever set as text (text nodes,
// textContent): nothing from the server is parsed as HTML, and the page's
// Content Security Policy (Trusted Types) makes the DOM's HTML-parsing
// setters throw anyway.

// An element: h("li", {class: "x", onclick: fn}, "text", child, ...).
// Attributes starting with "on" are listeners; null, undefined and false
// attributes are left out; strings among the children become text nodes.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

// An SVG element, with attributes (never style) and text children.
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  el.append(...children);
  return el;
}

export const byId = (id) => document.getElementById(id);

// Shows an error (an ApiError's detail, or any error's message) in `el`,
// an element with role="alert"; an empty `err` hides it.
export function showError(el, err) {
  if (!err) {
    el.textContent = "";
    el.hidden = true;
    return;
  }
  el.textContent = typeof err.describe === "function" ? err.describe() : String(err.message ?? err);
  el.hidden = false;
}

// A date as the reader's locale writes it.
export function when(iso) {
  if (!iso) return "never";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

// Runs `action` on each submission of `form`, as busy() runs it with the
// form's submit button and its alert.
export function onSubmit(form, action) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form.querySelector("button[type=submit]"), form.querySelector("[role=alert]"), action);
  });
}

// Runs `action` with `button` disabled, showing any error in `alert`.
export async function busy(button, alert, action) {
  button.disabled = true;
  showError(alert, null);
  try {
    await action();
  } catch (err) {
    showError(alert, err);
  } finally {
    button.disabled = false;
  }
}
