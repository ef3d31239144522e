// PLACEHOLDER (written with the API, issue 13; goes with the placeholder index.html when the
// dashboard page lands). Shows the task hub's counts by status through the API. Text only: nothing
// from the scheduler is ever inserted as HTML.
"use strict";

async function call(path, body) {
  const init = body === undefined ? {} : {
    method: "POST",
    headers: {
      "content-type": "application/json",
      // Every POST needs the per-run token the server put into this page.
      "x-dtsctl-token": document.querySelector('meta[name="dtsctl-token"]').content,
    },
    body: JSON.stringify(body),
  };
  const res = await fetch(path, init);
  const doc = await res.json();
  if (!res.ok) throw new Error(doc.error || res.statusText);
  return doc;
}

function row(label, value) {
  const tr = document.createElement("tr");
  for (const text of [label, String(value)]) {
    const td = document.createElement("td");
    td.textContent = text;
    tr.appendChild(td);
  }
  return tr;
}

async function show() {
  const hub = document.getElementById("hub");
  const counts = document.getElementById("counts");
  try {
    const ping = await call("/v1/taskhubs/ping");
    hub.textContent = `Task hub '${ping.taskHub}' at ${ping.endpoint} (${ping.engine}).`;
    const answer = await call("/v1/taskhubs/orchestrations/query", {pagination: {startIndex: 0, count: 1}});
    counts.replaceChildren(...Object.entries(answer.trivia).map(([key, n]) => row(key.replace(/Count$/, ""), n)));
  } catch (err) {
    hub.textContent = `The API did not answer: ${err.message}`;
  }
}

document.addEventListener("DOMContentLoaded", show);
