// Runs worker/bridge/streams.py's relay in real Pyodide on Node's WHATWG streams (those the local runtime serves
// with) against an upstream body driven from Python, and prints one JSON line per scenario. See
// test_relay_read_on.py.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadPyodide } from "../../../node_modules/pyodide/pyodide.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const py = await loadPyodide();
py.FS.mkdirTree("/w");
py.mountNodeFS("/w", path.resolve(HERE, "../../../worker"));
py.FS.mkdirTree("/t");
py.mountNodeFS("/t", HERE);

/** An upstream body whose chunks Python pushes, which notes when it was cancelled (-1: never). What is pushed
 * after that is dropped, as a connection that was closed drops what its peer still sends. */
globalThis.makeUpstream = () => {
  let controller;
  const state = { cancelledAt: -1 };
  const stream = new ReadableStream({
    start(c) { controller = c; },
    cancel() { state.cancelledAt = performance.now(); },
  });
  const unlessCancelled = (fn) => () => { if (state.cancelledAt < 0) fn(); };
  return {
    stream,
    state,
    push: (text) => unlessCancelled(() => controller.enqueue(new TextEncoder().encode(text)))(),
    close: unlessCancelled(() => controller.close()),
    fail: unlessCancelled(() => controller.error(new Error("connection lost"))),
  };
};

await py.runPythonAsync(`
import sys
sys.dont_write_bytecode = True
sys.path[:0] = ["/w", "/t"]
import relay_scenarios
await relay_scenarios.main()
`);
