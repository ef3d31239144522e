// A JavaScript SDK worker whose orchestration retries a failing activity, for dtsctl's pending-work
// and trace views (tests/test_js_sdk.py): the JS SDK schedules retries its own way (RetryPolicy,
// its own timers and task ids), which dtsctl must still read as attempts of one step.
//
//   node retries.mjs <port> <instance id>
//
// `flaky` fails on its first two attempts and, on the third, holds for HOLD_MS before it returns, so
// a reader sees attempt 3 open. The script starts the instance, prints {"started": id}, waits for its
// end, prints {"status", "output"} and exits 0 when it COMPLETED.

import { createRequire } from "node:module";
import process from "node:process";

const require = createRequire(import.meta.url);
const { TaskHubGrpcClient, TaskHubGrpcWorker, OrchestrationStatus, RetryPolicy } = require("@microsoft/durabletask-js");

const port = Number(process.argv[2]);
const instanceId = process.argv[3];
const hostAddress = `localhost:${port}`;
const HOLD_MS = 4000;
const quiet = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
const hard = setTimeout(() => { process.stderr.write("retries.mjs: hard timeout\n"); process.exit(3); }, 40000);

let tries = 0;
const flaky = async (_ctx, what) => {
  tries += 1;
  if (tries < 3) throw new Error(`try ${tries} of ${what} fails`);
  await new Promise((resolve) => setTimeout(resolve, HOLD_MS));
  return `done ${what}`;
};

const retrier = async function* (ctx, what) {
  const retry = new RetryPolicy({ maxNumberOfAttempts: 5, firstRetryIntervalInMilliseconds: 200 });
  return yield ctx.callActivity(flaky, what, { retry });
};

const worker = new TaskHubGrpcWorker({ hostAddress, logger: quiet });
worker.addOrchestrator(retrier);
worker.addActivity(flaky);
const client = new TaskHubGrpcClient({ hostAddress, logger: quiet });
let code = 1;
try {
  await worker.start();
  await client.scheduleNewOrchestration(retrier, "js", { instanceId });
  console.log(JSON.stringify({ started: instanceId }));
  let state;
  for (;;) {
    state = await client.getOrchestrationState(instanceId, true);
    if (state && [OrchestrationStatus.COMPLETED, OrchestrationStatus.FAILED, OrchestrationStatus.TERMINATED]
      .includes(state.runtimeStatus)) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const status = OrchestrationStatus[state.runtimeStatus];
  console.log(JSON.stringify({ status, output: state.serializedOutput ? JSON.parse(state.serializedOutput) : null }));
  code = status === "COMPLETED" ? 0 : 1;
} catch (err) {
  process.stderr.write(`retries.mjs: ${err?.stack || err}\n`);
} finally {
  await worker.stop().catch(() => {});
  clearTimeout(hard);
}
process.exit(code);
