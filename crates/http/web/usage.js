// Token usage: the total, and by model as a bar chart (prompt and
// completion tokens stacked, scaled to the model that used the most) with
// the same numbers in a table.

import { get } from "./api.js";
import { byId, h, showError, svg } from "./dom.js";

const WIDTH = 1000;
const number = (n) => n.toLocaleString();

export function reset() {
  byId("usage-total").textContent = "";
  byId("usage-chart").replaceChildren();
  byId("usage-rows").replaceChildren();
  showError(byId("usage-error"), null);
}

function bar(row, most) {
  const prompt = most > 0 ? (row.prompt_tokens / most) * WIDTH : 0;
  const completion = most > 0 ? (row.completion_tokens / most) * WIDTH : 0;
  const label = `${row.model}: ${number(row.prompt_tokens)} prompt and ${number(row.completion_tokens)} completion tokens`;
  return h(
    "div",
    { class: "bar-row" },
    h("span", { class: "bar-label" }, row.model),
    svg(
      "svg",
      { class: "usage-bar", viewBox: `0 0 ${WIDTH} 10`, preserveAspectRatio: "none", role: "img", "aria-label": label },
      svg("title", {}, label),
      svg("rect", { class: "prompt", x: 0, y: 0, width: prompt, height: 10 }),
      svg("rect", { class: "completion", x: prompt, y: 0, width: completion, height: 10 }),
    ),
    h("span", { class: "bar-value" }, number(row.total_tokens)),
  );
}

export async function show() {
  reset();
  let usage;
  try {
    usage = await get("/playground/usage");
  } catch (err) {
    showError(byId("usage-error"), err);
    return;
  }
  const { total, by_model: rows } = usage;
  byId("usage-total").textContent =
    rows.length === 0
      ? "No tokens used yet: start a conversation."
      : `${number(total.total_tokens)} tokens in all: ${number(total.prompt_tokens)} prompt, ${number(total.completion_tokens)} completion.`;
  const most = Math.max(0, ...rows.map((r) => r.total_tokens));
  byId("usage-chart").replaceChildren(...rows.map((r) => bar(r, most)));
  byId("usage-rows").replaceChildren(
    ...rows.map((r) =>
      h(
        "tr",
        {},
        h("td", {}, r.model),
        h("td", { class: "num" }, number(r.prompt_tokens)),
        h("td", { class: "num" }, number(r.completion_tokens)),
        h("td", { class: "num" }, number(r.total_tokens)),
      ),
    ),
  );
}
