#!/usr/bin/env node
// The local runtime's entry point (`make dev`, the e2e suite): reads wrangler.jsonc, loads the
// worker in Pyodide, wires Durable Object namespaces and local Containers, serves HTTP.
//
//   node local/cli.mjs [--port N] [--host H] [--no-containers] [--control] [--test-scheduled]
//                      [--state-dir DIR [--reset-state]] [--project DIR]
//                      [--litellm-config FILE] [--container-env KEY=VALUE ...]
//   node local/cli.mjs --print-container-base-env [--litellm-config FILE] [--container-env KEY=VALUE ...]
//
// --test-scheduled (implied by --control) serves GET /cdn-cgi/handler/scheduled?cron=... to loopback
// clients, which runs the worker's scheduled() handler, as `wrangler dev --test-scheduled` does.
// --state-dir keeps each Durable Object's storage (key-value and SQL) in DIR/do/ across restarts, as
// `wrangler dev` does in .wrangler/state; --reset-state empties DIR/do/ first. Without --state-dir
// storage lives in memory and is gone at exit (what the test suites want: nothing shared, nothing left).
// --project serves the worker whose wrangler.jsonc (and .dev.vars) is in DIR instead of the repository's: the
// bench's floors (bench/floors/) run through the very same runtime.
// PORT is read from the environment too (default 8787). Prints "Ready on http://HOST:PORT" once serving.
// --print-container-base-env prints, as one JSON object, the env every local container gets besides
// what its Durable Object passes to start() (the bench gives LiteLLM direct the very same), then exits.
// --control serves, to loopback clients only, /__local/...: containers, Durable Object instances and their
// storage, memory as an isolate would hold it (memory.mjs) and what workerd would log as uncaught.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { loadAssets } from "./assets.mjs";
import { buildEnv, loadProject } from "./config.mjs";
import { LocalContainer, killContainer, listContainers, stopAllContainers } from "./containers.mjs";
import { chainHandlers, createControl } from "./control.mjs";
import { DurableObjectNamespace, callSummary, listInstances, storageSummary } from "./durable_objects.mjs";
import { startHttpServer } from "./http_server.mjs";
import { createMemoryMeter } from "./memory.mjs";
import { loadWorker } from "./pyodide_host.mjs";
import { createScheduledTrigger } from "./scheduled.mjs";
import { installUncaughtHandlers, uncaughtSummary } from "./uncaught.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
// The one start command, shared with the image (container/Dockerfile CMD).
const START_COMMAND = path.join(ROOT, "container", "start.sh");
// What a container "image" has besides the env the Durable Object passes: the project's Python env.
const CONTAINER_BASE_ENV = {
  PATH: `${path.join(ROOT, ".venv", "bin")}:/usr/local/bin:/usr/bin:/bin`,
  HOME: process.env.HOME ?? "/tmp",
  LANG: "C.UTF-8",
  PYTHONDONTWRITEBYTECODE: "1",
};

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      "no-containers": { type: "boolean", default: false },
      control: { type: "boolean", default: false },
      "test-scheduled": { type: "boolean", default: false },
      "state-dir": { type: "string" },
      "reset-state": { type: "boolean", default: false },
      "litellm-config": { type: "string" },
      "container-env": { type: "string", multiple: true, default: [] },
      "print-container-base-env": { type: "boolean", default: false },
      project: { type: "string" },
    },
  });
  const port = Number(values.port ?? process.env.PORT ?? 8787);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid port: ${values.port ?? process.env.PORT}`);
  const containerEnv = Object.fromEntries(values["container-env"].map((pair) => {
    const at = pair.indexOf("=");
    if (at < 1) throw new Error(`--container-env wants KEY=VALUE, got ${pair}`);
    return [pair.slice(0, at), pair.slice(at + 1)];
  }));
  if (values["reset-state"] && !values["state-dir"]) throw new Error("--reset-state needs --state-dir");
  if (values["litellm-config"]) containerEnv.LITELLM_CONFIG = path.resolve(values["litellm-config"]);
  return {
    port,
    host: values.host,
    containers: !values["no-containers"],
    control: values.control,
    testScheduled: values.control || values["test-scheduled"],
    // Only a folder of our own inside DIR is ever written or wiped.
    doStateDir: values["state-dir"] ? path.resolve(values["state-dir"], "do") : null,
    resetState: values["reset-state"],
    containerBaseEnv: { ...CONTAINER_BASE_ENV, ...containerEnv },
    printContainerBaseEnv: values["print-container-base-env"],
    projectDir: values.project ? path.resolve(values.project) : ROOT,
  };
}

/**
 * KEY_MARK_SECRET when neither the environment nor .dev.vars sets one (what `wrangler secret put` does in a
 * deployment): generated once and kept next to the Durable Object storage, so keys issued under `make dev`
 * keep their mark across restarts; without --state-dir (the test suites) a fresh one per run, as the keys are.
 * @param {string | null} doStateDir
 */
function keyMarkSecret(doStateDir) {
  if (doStateDir === null) return randomBytes(32).toString("base64url");
  const file = path.join(path.dirname(doStateDir), "key-mark-secret");
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  const secret = randomBytes(32).toString("base64url");
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}

/** One log line: JSON events from the worker pass through as they are; everything else is prefixed. */
function log(line) {
  process.stdout.write(typeof line === "string" ? `${line}\n` : `${JSON.stringify(line)}\n`);
}

async function main() {
  const started = performance.now();
  const options = parseOptions(process.argv.slice(2));
  if (options.printContainerBaseEnv) {
    process.stdout.write(`${JSON.stringify(options.containerBaseEnv)}\n`);
    return;
  }
  const project = loadProject(options.projectDir);
  const dotVarsPath = path.join(project.root, ".dev.vars");
  const vars = buildEnv(project, {
    processEnv: process.env,
    dotVarsText: existsSync(dotVarsPath) ? readFileSync(dotVarsPath, "utf8") : null,
  });

  // As in workerd, an unhandled rejection or uncaught exception is logged ("Uncaught ...") and serving goes on.
  installUncaughtHandlers(log);
  if (options.resetState) rmSync(options.doStateDir, { recursive: true, force: true });
  const sqliteClasses = new Set(project.sqliteClasses);
  const env = { ...vars };
  // wrangler.jsonc `assets`: served ahead of the worker (http_server.mjs) and bound as env.ASSETS, as in workerd.
  const assets = loadAssets(project);
  if (assets?.binding) env[assets.binding] = { fetch: assets.fetch };
  if (!env.KEY_MARK_SECRET) env.KEY_MARK_SECRET = keyMarkSecret(options.doStateDir);
  const pending = new Set();
  const waitUntil = (promise) => {
    pending.add(promise);
    promise.catch((err) => log(`waitUntil rejected: ${err?.message ?? err}`)).finally(() => pending.delete(promise));
  };
  // Set below: namespaces are created before the module they call into is loaded.
  let worker = null;
  let memory; // with --control: measured once the worker is loaded
  const sample = () => memory?.sample();
  /** @type {Map<string, any>} one constructor per bound class, checked at start */
  const factories = new Map();
  const containerClasses = new Set(project.containers.map((c) => c.className));
  for (const { name, className } of project.durableObjects) {
    env[name] = new DurableObjectNamespace({
      className,
      env,
      log,
      stateDir: options.doStateDir,
      sqlite: sqliteClasses.has(className),
      sample,
      createInstance: (state, doEnv) => factories.get(className)(state, doEnv),
      containerFactory: (hex, instanceName) => {
        if (!options.containers || !containerClasses.has(className)) return undefined;
        return new LocalContainer({
          id: instanceName ?? hex.slice(0, 12),
          className,
          startCommand: [START_COMMAND],
          cwd: ROOT,
          baseEnv: options.containerBaseEnv,
          log,
        });
      },
    });
  }

  worker = await loadWorker({ root: ROOT, main: project.mainPath, env, waitUntil, log });
  // Every class bound in wrangler.jsonc must be exported by the main module: fail now, not at first use.
  for (const { className } of project.durableObjects) factories.set(className, worker.durableObjectFactory(className));
  const ctx = () => ({ waitUntil, passThroughOnException() {}, props: {} });
  if (options.control) memory = createMemoryMeter({ wasmBytes: () => worker.wasmMemoryBytes() });
  const control = chainHandlers([
    options.control &&
      createControl({ listContainers, killContainer, listInstances, memory, storageSummary, callSummary,
        uncaughtSummary }),
    options.testScheduled &&
      createScheduledTrigger({ crons: project.crons, log, fire: (controller) => worker.scheduled(controller, env, ctx()) }),
  ]);
  const server = await startHttpServer({
    host: options.host,
    port: options.port,
    log,
    control,
    assets,
    memory,
    handler: (request) => worker.fetch(request, env, ctx()),
  });

  let stopping = false;
  const shutdown = async (signal) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping the gateway and its containers`);
    await Promise.race([server.close(), new Promise((r) => setTimeout(r, 2000))]);
    await stopAllContainers();
    process.exit(0);
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));

  const secs = ((performance.now() - started) / 1000).toFixed(2);
  log(`containers: ${options.containers ? "local processes" : "off (ctx.container is undefined)"}; ` +
    `Durable Object storage: ${options.doStateDir ?? "in memory"}; started in ${secs}s`);
  log(`Ready on http://${options.host}:${server.port}`);
}

main().catch((err) => {
  process.stderr.write(`local runtime failed to start: ${err?.stack ?? err}\n`);
  process.exit(1);
});
