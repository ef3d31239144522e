// The Durable Task JavaScript SDK (@microsoft/durabletask-js), used as published, against a
// Durable Task gRPC endpoint such as dtsctl's local engine. Run by tests/test_js_sdk.py.
//
//   node interop.mjs <port> [<task hub> | -] [--poll]
//
// With a task hub, every call carries the gRPC metadata `taskhub: <hub>` (plus `workerid` for the
// worker and `x-user-agent`), as the Azure-managed DTS SDKs send it; the core SDK's
// `metadataGenerator` option is the hook. Without one (or with "-"), no metadata is sent at all:
// the plain-SDK case, which the local engine routes to the hub `default`.
//
// A worker hosts two orchestrations: `chain` (calls the activity `greet` twice, in sequence) and
// `approval` (waits for the external event `approve`). Orchestrators must be `async function*`:
// this SDK version only drives async generators (a plain `function*` completes at once with `{}`).
// A client schedules both, waits for `approval` to start, raises the event, waits for both to
// complete, reads `chain` once more (GetInstance) and prints ONE line of JSON on stdout:
//
//   {"ok": true, "sdk": {...}, "hub": "...", "waits": "server" | "poll", "metadata": {...} | null,
//    "instances": {"chain": {"instanceId", "name", "status", "output", "serializedOutput",
//                            "serializedInput", "failure"}, "approval": {...}},
//    "reads": {"chain": {...}}}
//
// Waits: by default the SDK's own waitForOrchestrationStart/waitForOrchestrationCompletion
// (WaitForInstanceStart/Completion rpcs, sent WITHOUT a gRPC deadline); with --poll,
// getOrchestrationState (GetInstance) every 50 ms instead.
//
// All SDK logging goes to stderr (INTEROP_DEBUG=1: info/debug too). Exit status: 0 when both
// completed with the expected outputs; 1 on an error (connection, rpc, timeout...); 2 when an
// orchestration ended otherwise or with another output (the summary is still printed); 3 when the
// hard timeout fired (INTEROP_DEADLINE_MS, default 30000); 64 on bad arguments.

import { createRequire } from "node:module";
import { hostname } from "node:os";
import process from "node:process";

const require = createRequire(import.meta.url);
const dt = require("@microsoft/durabletask-js");
// The exact @grpc/grpc-js copy the SDK itself loads (it is the SDK's dependency, not ours).
const grpc = createRequire(require.resolve("@microsoft/durabletask-js"))("@grpc/grpc-js");
const sdkPackage = require("@microsoft/durabletask-js/package.json");

const { TaskHubGrpcClient, TaskHubGrpcWorker, OrchestrationStatus } = dt;

const DEADLINE_MS = Number(process.env.INTEROP_DEADLINE_MS || 30000);
const WAIT_SECONDS = Math.max(1, Math.floor(DEADLINE_MS / 1000) - 5);
const EVENT_NAME = "approve";
const CITIES = ["Tokyo", "Seattle"];
const ORDER = { order: 42, items: ["tea", "cake"] };
const APPROVER = { by: "js-client", approved: true };

function usage(message) {
  process.stderr.write(`interop.mjs: ${message}\nusage: node interop.mjs <port> [<task hub> | -] [--poll]\n`);
  process.exit(64);
}

const args = process.argv.slice(2);
const POLL = args.includes("--poll");
const [portArg, hubArg] = args.filter((a) => a !== "--poll");
const port = Number(portArg);
if (!Number.isInteger(port) || port < 1 || port > 65535) usage(`bad port: ${portArg ?? "(none)"}`);
const hub = hubArg && hubArg !== "-" ? hubArg : null;
const hostAddress = `localhost:${port}`;

const hardTimeout = setTimeout(() => {
  process.stderr.write(`interop.mjs: hard timeout after ${DEADLINE_MS} ms\n`);
  process.exit(3);
}, DEADLINE_MS);

// ---------------------------------------------------------------------------------------- logging

const debug = Boolean(process.env.INTEROP_DEBUG);
const stderrLogger = {
  error: (msg, ...args) => console.error("[sdk error]", msg, ...args),
  warn: (msg, ...args) => console.error("[sdk warn]", msg, ...args),
  info: (msg, ...args) => { if (debug) console.error("[sdk info]", msg, ...args); },
  debug: (msg, ...args) => { if (debug) console.error("[sdk debug]", msg, ...args); },
};
const note = (msg) => console.error(`interop.mjs: ${msg}`);

// --------------------------------------------------------------------------------------- metadata

const userAgent = `dtsctl-interop durabletask-js/${sdkPackage.version} node/${process.versions.node}`;
const workerId = `${hostname()},${process.pid},dtsctl-js-interop`;

function metadataGenerator(forWorker) {
  if (!hub) return undefined; // plain SDK: the calls carry no metadata of ours
  return async () => {
    const md = new grpc.Metadata();
    md.set("taskhub", hub);
    md.set("x-user-agent", userAgent);
    if (forWorker) md.set("workerid", workerId);
    return md;
  };
}

// ------------------------------------------------------------------------------ orchestrations

const greet = async (_ctx, name) => `Hello, ${name}!`;

const chain = async function* (ctx, cities) {
  const first = yield ctx.callActivity(greet, cities[0]);
  const second = yield ctx.callActivity(greet, cities[1]);
  return { greetings: [first, second], instanceId: ctx.instanceId };
};

const approval = async function* (ctx, order) {
  const decision = yield ctx.waitForExternalEvent(EVENT_NAME);
  return { order, decision };
};

// ------------------------------------------------------------------------------------------ main

function describe(key, state) {
  if (!state) return { key, status: "MISSING" };
  let output = null;
  let parseError = null;
  if (state.serializedOutput !== undefined && state.serializedOutput !== "") {
    try {
      output = JSON.parse(state.serializedOutput);
    } catch (err) {
      parseError = String(err);
    }
  }
  return {
    instanceId: state.instanceId,
    name: state.name,
    status: OrchestrationStatus[state.runtimeStatus] ?? String(state.runtimeStatus),
    output,
    serializedOutput: state.serializedOutput ?? null,
    serializedInput: state.serializedInput ?? null,
    failure: state.failureDetails
      ? { type: state.failureDetails.errorType, message: state.failureDetails.message }
      : null,
    ...(parseError ? { parseError } : {}),
  };
}

const TERMINAL = new Set([OrchestrationStatus.COMPLETED, OrchestrationStatus.FAILED, OrchestrationStatus.TERMINATED]);

// --poll: reads the state with GetInstance until `done(state)` instead of the server-side waits
// (WaitForInstanceStart/Completion), which this SDK calls without a gRPC deadline.
async function pollState(client, instanceId, done, fetchPayloads) {
  const until = Date.now() + WAIT_SECONDS * 1000;
  for (;;) {
    const state = await client.getOrchestrationState(instanceId, fetchPayloads);
    if (state && done(state)) return state;
    if (Date.now() > until) throw new Error(`timed out polling instance '${instanceId}'`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function check(summary) {
  const problems = [];
  const { chain: c, approval: a } = summary.instances;
  const expectChain = JSON.stringify({ greetings: CITIES.map((x) => `Hello, ${x}!`), instanceId: c.instanceId });
  const expectApproval = JSON.stringify({ order: ORDER, decision: APPROVER });
  if (c.status !== "COMPLETED") problems.push(`chain: status ${c.status}`);
  else if (JSON.stringify(c.output) !== expectChain) problems.push(`chain: output ${JSON.stringify(c.output)}`);
  if (a.status !== "COMPLETED") problems.push(`approval: status ${a.status}`);
  else if (JSON.stringify(a.output) !== expectApproval) problems.push(`approval: output ${JSON.stringify(a.output)}`);
  return problems;
}

async function main() {
  const worker = new TaskHubGrpcWorker({
    hostAddress,
    useTLS: false,
    metadataGenerator: metadataGenerator(true),
    logger: stderrLogger,
    shutdownTimeoutMs: 2000,
  });
  worker.addOrchestrator(chain);
  worker.addOrchestrator(approval);
  worker.addActivity(greet);

  const client = new TaskHubGrpcClient({
    hostAddress,
    useTLS: false,
    metadataGenerator: metadataGenerator(false),
    logger: stderrLogger,
  });

  let workerStarted = false;
  try {
    await worker.start();
    workerStarted = true;
    note(`worker started against ${hostAddress} (hub ${hub ?? "(no metadata)"})`);

    const chainId = await client.scheduleNewOrchestration(chain, CITIES);
    const approvalId = await client.scheduleNewOrchestration(approval, ORDER);
    note(`scheduled chain=${chainId} approval=${approvalId}`);

    const started = POLL
      ? await pollState(client, approvalId, (s) => s.runtimeStatus !== OrchestrationStatus.PENDING, false)
      : await client.waitForOrchestrationStart(approvalId, false, WAIT_SECONDS);
    if (!started) throw new Error(`approval instance ${approvalId} not found after scheduling`);
    await client.raiseOrchestrationEvent(approvalId, EVENT_NAME, APPROVER);
    note(`raised '${EVENT_NAME}' on ${approvalId}`);

    const waitDone = (id) => (POLL
      ? pollState(client, id, (s) => TERMINAL.has(s.runtimeStatus), true)
      : client.waitForOrchestrationCompletion(id, true, WAIT_SECONDS));
    const [chainState, approvalState] = await Promise.all([waitDone(chainId), waitDone(approvalId)]);
    // A plain read too (GetInstance, not WaitForInstanceCompletion).
    const chainRead = await client.getOrchestrationState(chainId, true);

    const summary = {
      ok: false,
      sdk: { name: sdkPackage.name, version: sdkPackage.version, node: process.versions.node },
      hub: hub ?? "default",
      waits: POLL ? "poll" : "server",
      metadata: hub ? { taskhub: hub, workerid: workerId, "x-user-agent": userAgent } : null,
      instances: { chain: describe("chain", chainState), approval: describe("approval", approvalState) },
      reads: { chain: describe("chain", chainRead) },
    };
    const problems = check(summary);
    summary.ok = problems.length === 0;
    if (!summary.ok) summary.problems = problems;
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return summary.ok ? 0 : 2;
  } finally {
    const stops = [client.stop()];
    if (workerStarted) stops.push(worker.stop());
    const results = await Promise.allSettled(stops);
    for (const r of results) if (r.status === "rejected") note(`stop failed: ${r.reason}`);
  }
}

main().then(
  (code) => {
    clearTimeout(hardTimeout);
    process.exitCode = code;
    // grpc-js may keep handles (timers, sockets) alive for a while after close(): do not wait for them.
    process.stdout.write("", () => process.exit(code));
  },
  (err) => {
    clearTimeout(hardTimeout);
    process.stderr.write(`interop.mjs: FAILED: ${err?.stack || err}\n`);
    if (err && typeof err === "object" && "code" in err) {
      process.stderr.write(`interop.mjs: grpc status ${err.code} ${err.details ?? ""}\n`);
    }
    process.exit(1);
  },
);
