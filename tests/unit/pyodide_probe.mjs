// Runs the worker's JS adapters in real Pyodide and prints what Python got back (see test_in_pyodide.py):
// storage.workerd_sql against stand-ins shaped like workerd's SqlStorage, raw (built-in `workers`) and wrapped
// (workers-runtime-sdk 1.9.5); bridge.js_interop.from_rpc on both shapes an RPC result comes in.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadPyodide } from "../../node_modules/pyodide/pyodide.mjs";
import { findWorkersSdk } from "../../local/pyodide_host.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
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
// An RPC result as workerd's built-in SDK hands it over (a Map) and as SDK 1.9.5 does (a plain object).
const nested = () => ({ list: [1, null, { deep: null }], text: "t", flag: false });
globalThis.rpcMap = new Map([["n", null], ["u", undefined], ["big", 2 ** 40], ["inner", new Map(Object.entries(nested()))]]);
globalThis.rpcObject = { n: null, u: undefined, big: 2 ** 40, inner: nested() };
// Stubs as workerd's behave: a method answers; one the object lacks rejects with a TypeError; a callee's failure
// rejects with another error (whose message would carry its traceback).
globalThis.rpcStub = {
  answer: async (payload) => new Map([["got", payload.n], ["none", null]]),
  missing: async () => { throw new TypeError("The RPC receiver does not implement the method"); },
  broken: async () => { throw new Error("Traceback (most recent call last): secret"); },
};
globalThis.rpcOdd = { when: new Date(0), f: () => 1, n: null };  // what to_py leaves as JS objects
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
    print(name, "tx after it", db.transaction(lambda: "own result"), db.transaction(lambda: 2))
    raw = js.rawCtx if name == "raw" else js.wrappedCtx
    print(name, "binding types", raw.storage.sql.seen.to_py())
from bridge.js_interop import binding, from_rpc, js_dict
from workers.rpc import _EnvWrapper
js_env = js.Object.new()
js_env.NS = js.Object.new()
js_env.UNSET = js.undefined if hasattr(js, "undefined") else None
for shape, env in (("raw", js_env), ("wrapped", _EnvWrapper(js_env))):
    found = binding(env, "NS")
    print("binding", shape, js.Object.is_(found, js_env.NS), binding(env, "UNSET"), binding(env, "MISSING"))
from pyodide.ffi import to_js
signal = js.AbortController.new().signal
for shape in ({"method": "POST", "n": 3, "f": 1.5, "ok": True, "none": None, "x-h": "v", "signal": signal},
              {"headers": {"a": "b"}, "list": [1, None, {"c": False}], "s": "t"}, {},
              from_rpc({"sdk": type("JsDict", (dict,), {})(k=1)})):  # SDK 1.9.5's dict subclass, through from_rpc
    made, deep = js_dict(shape), to_js(shape, dict_converter=js.Object.fromEntries)
    same = js.JSON.stringify(made) == js.JSON.stringify(deep) and js.Object.keys(made).length == len(shape)
    print("js_dict", js.JSON.stringify(made), same, js.Object.is_(made.signal, signal) if "signal" in shape else "-")
for name in ("rpcMap", "rpcObject"):
    print(name, from_rpc(getattr(js, name)))
print("python", from_rpc({"a": [None, {"b": 1}]}))
odd = from_rpc(js.rpcOdd)
print("odd", sorted(odd), odd["n"], type(odd["when"]).__name__, type(from_rpc(js.rpcOdd.f)).__name__)
`);
// tasks.background in Pyodide's event loop, where every callback it schedules is a JS timer and a new proxy.
await py.runPythonAsync(`
import asyncio
import js
import tasks
from bridge.js_interop import BEHIND, call_rpc
from pyodide.ffi import JsException
print("call_rpc answer", await call_rpc(js.rpcStub, "answer", {"n": 7}))
print("call_rpc missing", await call_rpc(js.rpcStub, "missing", {}) is BEHIND)
try:
    await call_rpc(js.rpcStub, "broken", {})
except JsException as exc:
    print("call_rpc broken raised", exc.name)
loop = asyncio.get_event_loop()
scheduled = []
plain = type(loop).call_later
loop.call_later = lambda *a, **k: (scheduled.append(1), plain(loop, *a, **k))[1]
ran = []
async def never_waits():
    ran.append("booked")
tasks.background(never_waits())
print("background never waits", ran, len(scheduled), len(tasks._background))
async def waits():
    await asyncio.sleep(0)
    ran.append("woke")
tasks.background(waits())
print("background waits", ran, len(tasks._background))
await asyncio.sleep(0.01)
print("background woke", ran, len(tasks._background))
tasks.background(never_waits(), now=False)
print("background queued", ran, len(tasks._background))
await asyncio.sleep(0.01)
print("background queued ran", ran, len(tasks._background))
async def fails():
    raise ValueError("x")
tasks.background(fails())
print("background failed quietly", len(tasks._background))
del loop.call_later
`);
