// The API under /api/v1, from the same origin with the session cookie.
// Every failure becomes an ApiError whose `detail` is the problem's
// `detail` (RFC 9457), which is what the page shows.

const BASE = "/api/v1";

// Dispatched on `window` when the API answers 401 `unauthenticated`: the
// session is gone (logged out elsewhere, revoked, expired).
export const UNAUTHENTICATED = "promptyard:unauthenticated";

export class ApiError extends Error {
  constructor(status, code, detail, errors = []) {
    super(detail);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.errors = errors;
  }

  // The detail, and each invalid field of a 422 on a line of its own.
  describe() {
    const lines = [this.detail];
    for (const e of this.errors) lines.push(`${e.field}: ${e.message}`);
    return lines.join("\n");
  }
}

const unreachable = () =>
  new ApiError(0, "network", "The server cannot be reached. Check that it runs, then try again.");

// The error an answer that is not 2xx stands for.
async function problemOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON: said below with the status alone.
  }
  if (body && typeof body.detail === "string") {
    return new ApiError(
      response.status,
      body.code ?? "error",
      body.detail,
      Array.isArray(body.errors) ? body.errors : [],
    );
  }
  return new ApiError(response.status, "error", `The server answered ${response.status}.`);
}

async function send(method, path, body, extra = {}) {
  const init = {
    method,
    credentials: "same-origin",
    ...extra,
    headers: { Accept: "application/json", ...extra.headers },
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(BASE + path, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw unreachable();
  }
  if (!response.ok) {
    const problem = await problemOf(response);
    if (problem.code === "unauthenticated") window.dispatchEvent(new Event(UNAUTHENTICATED));
    throw problem;
  }
  return response;
}

// One JSON call: the parsed body, or null for 204.
export async function call(method, path, body) {
  const response = await send(method, path, body);
  return response.status === 204 ? null : response.json();
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body);
export const del = (path) => call("DELETE", path);

// Server-sent events from a byte stream: yields {event, data} for each
// "message" or "error" event, skipping comments (the server's
// keep-alives).
export async function* events(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const parsed = parseEvents(buffer + value);
      buffer = parsed.rest;
      yield* parsed.events;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

// The complete events at the start of `text`, and the rest. Line ends are
// normalised; a `\r` at the very end may be half of a `\r\n`, so it waits
// in the rest for the next chunk.
function parseEvents(text) {
  const held = text.endsWith("\r") ? "\r" : "";
  let rest = text.slice(0, text.length - held.length).replace(/\r\n?/g, "\n");
  const events = [];
  let end;
  while ((end = rest.indexOf("\n\n")) >= 0) {
    const block = rest.slice(0, end);
    rest = rest.slice(end + 2);
    let event = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line === "" || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (data.length > 0 && (event === "message" || event === "error")) {
      events.push({ event, data: data.join("\n") });
    }
  }
  return { events, rest: rest + held };
}

const cutOff = () =>
  new ApiError(0, "network", "The connection to the server was lost before the answer was complete; nothing was saved.");

// Sends a message with `"stream": true` and calls onDelta with each piece
// of the answer as it arrives. Resolves to the final event
// ({assistant_message, usage}); rejects with an ApiError (the 502 before
// the first words, or the stream's `error` event after them), or with an
// AbortError when `signal` stops it.
export async function streamMessage(conversationId, content, { signal, onDelta }) {
  const response = await send(
    "POST",
    `/playground/conversations/${encodeURIComponent(conversationId)}/messages`,
    { content, stream: true },
    { signal, headers: { Accept: "text/event-stream" } },
  );
  try {
    for await (const { event, data } of events(response.body)) {
      let payload;
      try {
        payload = JSON.parse(data);
      } catch {
        throw new ApiError(502, "provider_error", "The server sent an answer this page cannot read; nothing was saved.");
      }
      if (event === "error") {
        throw new ApiError(502, payload.code ?? "provider_error", payload.detail ?? "The model failed.");
      }
      if (payload.done) return payload;
      if (typeof payload.delta === "string") onDelta(payload.delta);
    }
  } catch (err) {
    // A dropped connection reads as a TypeError; a stop as an AbortError.
    if (err instanceof ApiError || err.name === "AbortError") throw err;
    throw cutOff();
  }
  throw new ApiError(502, "provider_error", "The answer ended before it was complete; nothing was saved.");
}
