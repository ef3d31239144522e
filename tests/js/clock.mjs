// The orchestration clock of the JavaScript SDK against a Durable Task endpoint (tests/test_js_sdk.py).
//
//   node clock.mjs <port>
//
// This client always sends a scheduled start time (1970-01-01 when none is asked for). A worker
// hosts `napper`, which reads its clock, sleeps on a 2-second timer and reads it again; a client
// starts it and waits (polling GetInstance). Prints one line of JSON:
//   {"ok": true, "startedAtMs", "endedAtMs", "clockBeforeMs", "clockAfterMs", "status"}
// Exit 0 when the orchestration completed, 1 otherwise.

import { createRequire } from "node:module";
import process from "node:process";

const require = createRequire(import.meta.url);
const { TaskHubGrpcClient, TaskHubGrpcWorker, OrchestrationStatus } = require("@microsoft/durabletask-js");

const port = Number(process.argv[2]);
const hostAddress = `localhost:${port}`;
const quiet = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
const hard = setTimeout(() => { process.stderr.write("clock.mjs: hard timeout\n"); process.exit(3); }, 30000);

const napper = async function* (ctx) {
  const before = ctx.currentUtcDateTime.getTime();
  yield ctx.createTimer(2);
  return { before, after: ctx.currentUtcDateTime.getTime() };
};

const worker = new TaskHubGrpcWorker({ hostAddress, logger: quiet });
worker.addOrchestrator(napper);
const client = new TaskHubGrpcClient({ hostAddress, logger: quiet });
let code = 1;
try {
  await worker.start();
  const startedAtMs = Date.now();
  const id = await client.scheduleNewOrchestration(napper);
  let state;
  for (;;) {
    state = await client.getOrchestrationState(id, true);
    if (state && [OrchestrationStatus.COMPLETED, OrchestrationStatus.FAILED, OrchestrationStatus.TERMINATED]
      .includes(state.runtimeStatus)) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const endedAtMs = Date.now();
  const out = state.serializedOutput ? JSON.parse(state.serializedOutput) : {};
  const status = OrchestrationStatus[state.runtimeStatus];
  console.log(JSON.stringify({ ok: status === "COMPLETED", startedAtMs, endedAtMs, clockBeforeMs: out.before ?? null,
                               clockAfterMs: out.after ?? null, status }));
  code = status === "COMPLETED" ? 0 : 1;
} catch (err) {
  process.stderr.write(`clock.mjs: ${err?.stack || err}\n`);
} finally {
  await worker.stop().catch(() => {});
  clearTimeout(hard);
}
process.exit(code);
