// Runs the unchanged worker/ code in real Pyodide (the version workerd runs) with the unmodified
// `workers` SDK from the project's uv environment, and calls it the way workerd does:
// a fresh entrypoint instance per request, one live instance per Durable Object, and requests /
// responses converted by the SDK's own rpc helpers (python_from_rpc / python_to_rpc).
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);

// Where Pyodide finds things inside its virtual file system.
const WORKER_MOUNT = "/session/worker";
const SDK_MOUNT = "/lib/python3.13/site-packages/workers";

// Stdlib modules the SDK and worker/ import, preloaded into a memory snapshot: a start from the snapshot
// takes ~0.5 s instead of ~2 s. Only stdlib: the snapshot must not hold references to JS objects.
const SNAPSHOT_IMPORTS = "import asyncio, json, inspect, datetime, functools, http.client, email.message, " +
  "urllib.parse, hashlib, hmac, uuid, re, dataclasses, enum, typing, collections.abc, contextlib, itertools, " +
  "pyodide.http, pyodide.ffi";

// Compat flags in force for our compatibility date (2026-04-20) that the SDK consults.
const COMPAT_FLAGS = {
  python_request_headers_preserve_commas: true,
  python_workflows_implicit_dependencies: true,
};

// Glue that lives in Pyodide (not in worker/): entrypoint construction and rpc conversion, as workerd does.
const HOST_PY = new URL("./pyodide_host.py", import.meta.url);

/** Finds the `workers` package installed by uv in the project's .venv (never copied into the repo). */
export function findWorkersSdk(root) {
  const libDir = path.join(root, ".venv", "lib");
  if (existsSync(libDir)) {
    for (const pyDir of readdirSync(libDir)) {
      const candidate = path.join(libDir, pyDir, "site-packages", "workers");
      if (existsSync(path.join(candidate, "entrypoints.py"))) return candidate;
    }
  }
  throw new Error(`workers-runtime-sdk not found under ${libDir}: run 'make install' first`);
}

/**
 * Loads Pyodide, mounts worker/ and the SDK, imports the main module.
 * @param {{root: string, main: string, env: object, waitUntil: (p: Promise<unknown>) => void,
 *          log: (line: string) => void}} options
 */
export async function loadWorker({ root, main, env, waitUntil, log }) {
  const pyodide = await loadPyodideWithSnapshot(path.join(root, ".local-cache"), log);
  // Pyodide's loader keeps the snapshot's bytes (20 MiB) and the Wasm binary (8 MiB) referenced for good:
  // dropped, so that they neither weigh on the runtime nor count as memory an isolate holds (memory.mjs).
  pyodide._api.config._loadSnapshot = undefined;
  pyodide._module.instantiateWasm = undefined;
  const workerDir = path.dirname(path.resolve(root, main));
  pyodide.FS.mkdirTree(WORKER_MOUNT);
  pyodide.mountNodeFS(WORKER_MOUNT, workerDir);
  pyodide.FS.mkdirTree(SDK_MOUNT);
  pyodide.mountNodeFS(SDK_MOUNT, findWorkersSdk(root));

  // The workerd-internal modules `import workers` needs. Node 20 has no JSPI, so `doAnImport`
  // can only serve the modules workerd pre-imports for the global scope.
  const cloudflareWorkersModule = { env, waitUntil };
  pyodide.registerJsModule("_cloudflare_compat_flags", COMPAT_FLAGS);
  pyodide.registerJsModule("_pyodide_entrypoint_helper", {
    patchWaitUntil: (ctx) => ctx,
    cloudflareWorkersModule,
    cloudflareSocketsModule: {},
    doAnImport: async (name) => {
      throw new Error(`import of '${name}' is not available in the local runtime (no JSPI)`);
    },
  });

  pyodide.runPython(`
import sys
sys.dont_write_bytecode = True  # keep __pycache__ out of the mounted worker/ folder
sys.path.insert(0, ${JSON.stringify(WORKER_MOUNT)})
`);
  const hostGlobals = pyodide.globals.get("dict")();
  pyodide.runPython(readFileSync(HOST_PY, "utf8"), { globals: hostGlobals, filename: "pyodide_host.py" });
  const host = Object.fromEntries(
    ["call_entrypoint", "construct", "call_fetch", "call_alarm", "call_scheduled", "call_method"].map((name) => [name, hostGlobals.get(name)]),
  );
  const moduleName = path.basename(main).replace(/\.py$/, "");
  const mainModule = pyodide.pyimport(moduleName);
  return new WorkerModule(pyodide, host, mainModule);
}

/**
 * Pyodide from the cached memory snapshot when one exists for these inputs (Pyodide version, Node
 * version, preloaded imports: the file name hashes them, so any change makes a new one); otherwise a
 * plain load that writes the snapshot for next time.
 */
async function loadPyodideWithSnapshot(cacheDir, log) {
  const { loadPyodide } = await import("pyodide");
  const pyodidePackage = JSON.parse(readFileSync(require.resolve("pyodide/package.json"), "utf8"));
  const options = {
    indexURL: path.dirname(require.resolve("pyodide/package.json")) + path.sep,
    stdout: (line) => log(line),
    stderr: (line) => log(line),
  };
  const key = createHash("sha256").update([pyodidePackage.version, process.version, SNAPSHOT_IMPORTS].join("\n"));
  const file = path.join(cacheDir, `pyodide-${key.digest("hex").slice(0, 16)}.snapshot`);
  if (existsSync(file)) {
    try {
      return await loadPyodide({ ...options, _loadSnapshot: readFileSync(file) });
    } catch (err) {
      log(`pyodide snapshot unusable (${err?.message ?? err}); loading without it`);
    }
  }
  const pyodide = await loadPyodide({ ...options, _makeSnapshot: true });
  pyodide.runPython(SNAPSHOT_IMPORTS);
  try {
    mkdirSync(cacheDir, { recursive: true });
    const partial = `${file}.${process.pid}.tmp`; // several runtimes may start at once: rename is atomic
    writeFileSync(partial, pyodide.makeMemorySnapshot());
    renameSync(partial, file);
  } catch (err) {
    log(`could not save the pyodide snapshot: ${err?.message ?? err}`);
  }
  return pyodide;
}

/** The imported main module: its default entrypoint and its exported Durable Object classes. */
class WorkerModule {
  constructor(pyodide, host, mainModule) {
    this.pyodide = pyodide;
    this.host = host;
    this.mainModule = mainModule;
  }

  /** The size of Pyodide's linear memory (Python's whole heap): it grows and never shrinks. */
  wasmMemoryBytes() {
    return this.pyodide._module.HEAP8.buffer.byteLength;
  }

  /** Calls `Default.fetch` on a fresh instance; resolves to a JS Response. */
  fetch(request, env, ctx) {
    const cls = this.mainModule.Default;
    return this.host.call_entrypoint(cls, ctx, env, request);
  }

  /** Calls `Default.scheduled(controller, None, None)` on a fresh instance, as workerd does for a cron. */
  scheduled(controller, env, ctx) {
    return this.host.call_scheduled(this.mainModule.Default, ctx, env, controller);
  }

  /** Returns the factory the Durable Object namespace uses to create one live instance per id. */
  durableObjectFactory(className) {
    const cls = this.mainModule[className];
    if (!cls) throw new Error(`${className} is not exported by the worker's main module`);
    const { host, pyodide } = this;
    return (state, env) => {
      const instance = host.construct(cls, state, env);
      return {
        fetch: (request) => host.call_fetch(instance, request),
        alarm: () => host.call_alarm(instance),
        call: async (method, args) => {
          // workerd's Python entrypoint looks the method up from JS (`typeof pyInstance[prop]`), so a missing one
          // is a JS TypeError, not a Python traceback. Names starting with `_` are refused too: workerd's helper
          // would reach them, but they are private to Python and the SDK lists none as a method (stricter here,
          // so nothing comes to rely on it).
          if (method.startsWith("_") || typeof instance[method] !== "function") {
            throw new TypeError(`Method ${method} does not exist`);
          }
          const result = await host.call_method(instance, method, args);
          if (result instanceof pyodide.ffi.PyProxy) {
            // A Python object python_to_rpc could not turn into JS: it cannot cross, as in workerd.
            const type = result.type;
            result.destroy();
            throw new DOMException(`Could not serialize object of type "${type}".`, "DataCloneError");
          }
          return result;
        },
      };
    };
  }
}
