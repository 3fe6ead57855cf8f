// Runs storage.workerd_sql in real Pyodide against JS stand-ins shaped like workerd's SqlStorage, raw (built-in
// `workers`) and wrapped (workers-runtime-sdk 1.9.5), and prints what Python got back. See test_keys_workerd_sql.py.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadPyodide } from "../../../node_modules/pyodide/pyodide.mjs";
import { findWorkersSdk } from "../../../local/pyodide_host.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const py = await loadPyodide();
py.FS.mkdirTree("/w"); py.mountNodeFS("/w", path.join(ROOT, "worker"));
py.FS.mkdirTree("/lib/python3.13/site-packages/workers");
py.mountNodeFS("/lib/python3.13/site-packages/workers", findWorkersSdk(ROOT));
py.registerJsModule("_cloudflare_compat_flags", {});
py.registerJsModule("_pyodide_entrypoint_helper", {patchWaitUntil: (c) => c, cloudflareWorkersModule: {}, cloudflareSocketsModule: {}, doAnImport: async () => { throw new Error("no"); }});
class SqlStorageCursor { constructor(rows) { this.rows = rows; } toArray() { return this.rows; } }
class SqlStorage { constructor() { this.seen = []; }
  exec(q, ...b) { this.seen.push(b.map((v) => v === null ? "null" : (v instanceof Uint8Array ? "Uint8Array" : typeof v)));
    return new SqlStorageCursor([{a: 1, b: null, c: "t", d: 2.5, e: new Uint8Array([1,2]).buffer}]); } }
class DurableObjectStorage { constructor() { this.sql = new SqlStorage(); } transactionSync(fn) { return fn(); } }
class DurableObjectState { constructor() { this.storage = new DurableObjectStorage(); } }
globalThis.rawCtx = new DurableObjectState();
globalThis.wrappedCtx = new DurableObjectState();
py.runPython(`
import sys; sys.dont_write_bytecode = True
sys.path.insert(0, "/w")
import js
from workers.entrypoints import DurableObjectContext
from storage.workerd_sql import WorkerdSql
for name, ctx in (("raw", js.rawCtx), ("sdk", DurableObjectContext(js.wrappedCtx))):
    db = WorkerdSql(ctx.storage)
    rows = db.exec("SELECT", None, True, 3, "s", b"xy", 1.5)
    print(name, rows, type(rows[0]["e"]))
    print(name, "tx", db.transaction(lambda: {"x": [1, 2]}))
    try:
        db.transaction(lambda: 1 / 0)
    except ZeroDivisionError:
        print(name, "exception came back as ZeroDivisionError")
    raw = js.rawCtx if name == "raw" else js.wrappedCtx
    print(name, "binding types", raw.storage.sql.seen.to_py())
`);
