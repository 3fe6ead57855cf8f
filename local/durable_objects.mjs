// Durable Objects as workerd shapes them, in memory: namespace binding -> id -> stub -> the one live
// instance per id. Class names matter: the Python SDK recognises bindings by `constructor.name`.
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { DurableObjectStorage, heldBytes, openDatabase, openExisting } from './do_storage.mjs';
import { cloneForRpc, crossing, notImplemented, rpcStub } from './rpc.mjs';
import { clientBodyOf } from './streams.mjs';
import { reportUncaught } from './uncaught.mjs';

export { DurableObjectStorage };

const UNREAD_AFTER_RESPONSE = "Can't read from request stream after response has been sent.";

/** @type {Set<DurableObjectNamespace>} every namespace made in this process, for listInstances(). */
const namespaces = new Set();

export class DurableObjectId {
  /** @param {string} hex @param {string} [name] */
  constructor(hex, name) {
    this._hex = hex;
    if (name !== undefined) this.name = name;
  }
  toString() {
    return this._hex;
  }
  /** @param {any} other */
  equals(other) {
    return other instanceof DurableObjectId && other._hex === this._hex;
  }
}

/**
 * The `ctx` given to a Durable Object's constructor.
 * `container` is a prototype getter, so when there is no container it reads as `undefined` and
 * Pyodide turns that into None (as in workerd). An ABSENT property would raise AttributeError
 * in Python instead, and `null` would arrive as `jsnull`.
 */
export class DurableObjectState {
  /**
   * @param {{ id: DurableObjectId, storage: DurableObjectStorage, container?: any, log: (msg: string) => void }} opts
   */
  constructor({ id, storage, container, log }) {
    this.id = id;
    this.storage = storage;
    this._container = container ?? undefined;
    this._log = log;
  }

  get container() {
    return this._container;
  }

  /** @param {Promise<any>} promise */
  waitUntil(promise) {
    Promise.resolve(promise).catch((err) => this._log(`waitUntil task failed: ${err?.message ?? err}`));
  }
}

/** The stub a namespace hands out (workerd's stub class is also called DurableObject): `fetch`, and any other
 * method name is an RPC call on the object (rpc.mjs). */
export class DurableObject {
  /** @param {DurableObjectNamespace} ns @param {DurableObjectId} id */
  constructor(ns, id) {
    this._ns = ns;
    this.id = id;
    if (id.name !== undefined) this.name = id.name;
    return rpcStub(this, (method, args) => ns._deliverCall(id, method, args));
  }

  /** @param {string | URL | Request} input @param {RequestInit} [init] @returns {Promise<Response>} */
  async fetch(input, init) {
    // A new Request takes over the body stream of `input` without copying it.
    const request = new Request(input, { ...(init ?? {}), duplex: 'half' });
    const delivered = request.body === null ? request : new Request(request, { body: watchedBody(request.body), duplex: 'half' });
    return this._ns._deliverFetch(this.id, delivered);
  }
}

/**
 * The body a Durable Object is handed, watched as workerd's stub pumps it: when it came from a client's
 * request and the object has not read it to its end by the time the response to that request has been sent,
 * workerd's pump fails with an uncaught TypeError in the caller (probed with workerd 2026-04-26: a body
 * ignored, cancelled or partly read, even 100 bytes already sent in full; a body of bytes the caller built:
 * nothing). Its first chunk is read at once, as that pump does, to learn where the body came from; every
 * other read is the object's own, so the end counts only when the object itself reads it.
 * @param {ReadableStream} body
 */
function watchedBody(body) {
  const reader = body.getReader();
  let over = false; // the object read it to its end, or it failed: nothing is left for a late read
  let cancelled = false; // by the object: a read pending then ends as if the body were over, but it is not
  /** @type {Promise<ReadableStreamReadResult<any>> | null} */
  let first = reader.read();
  first.then((step) => {
    clientBodyOf(step.value)?.afterResponse(() => {
      if (!over) reportUncaught(new TypeError(UNREAD_AFTER_RESPONSE));
    });
  }, () => {}); // a failure reaches the object with its first read
  return new ReadableStream({
    async pull(controller) {
      let step;
      try {
        step = await (first ?? reader.read());
      } catch (err) {
        over = true;
        throw err; // the object sees the body fail
      } finally {
        first = null;
      }
      if (cancelled) return;
      if (step.done) {
        over = true;
        controller.close();
        return;
      }
      controller.enqueue(step.value);
    },
    cancel(reason) {
      cancelled = true;
      // Cancelled before the object read anything: the first read is let finish (workerd's pump reads on too)
      // to tell where the body came from; nothing after it is read.
      if (first === null) return reader.cancel(reason);
      first.then(() => reader.cancel(reason)).catch(() => {}); // a body that failed meanwhile: nothing to stop
      return undefined;
    },
  }, { highWaterMark: 0 }); // no read ahead: each read is the object's
}

export class DurableObjectNamespace {
  /**
   * @param {{ className: string,
   *   createInstance: (state: DurableObjectState, env: any) => any,
   *   env: any,
   *   containerFactory?: (idString: string) => any,
   *   stateDir?: string | null, sqlite?: boolean,
   *   log?: (msg: string) => void, sample?: () => void }} opts
   *   stateDir: each object's database is `<stateDir>/<className>/<id>.sqlite` (kept across restarts);
   *   null keeps it in memory. sqlite: the class is SQLite-backed (has `ctx.storage.sql`).
   *   createInstance returns (or resolves to) `{ fetch(request): Promise<Response>, alarm?(info): Promise<void>,
   *   call?(method, args): Promise<any> }`; `call` runs an RPC method (it throws a TypeError for one it lacks).
   *   sample: called as each fetch or RPC call reaches an object and once it has answered (the memory meter).
   */
  constructor({ className, createInstance, env, containerFactory, stateDir = null, sqlite = true,
    log = (m) => console.error(m), sample = () => {} }) {
    this._className = className;
    this._sample = sample;
    this._stateDir = stateDir;
    this._sqlite = sqlite;
    this._createInstance = createInstance;
    this._env = env;
    this._containerFactory = containerFactory;
    this._log = (m) => log(`[${className}] ${m}`);
    /** @type {Map<string, {id: DurableObjectId, state: DurableObjectState, instance: Promise<any> | null}>} */
    this._slots = new Map();
    this._calls = 0; // fetches and RPC calls delivered to objects of this class: what a request cost in calls
    this._rpcCalls = 0; // of which RPC calls (the rest are fetches)
    /** @type {Map<string, string>} the name behind each hex id, for containers and listInstances() */
    this._names = new Map();
    namespaces.add(this);
  }

  /** @param {string} name @returns {DurableObjectId} */
  idFromName(name) {
    if (typeof name !== 'string') throw new TypeError('idFromName() needs a string');
    const hex = createHash('sha256').update(`${this._className}\0${name}`).digest('hex');
    this._names.set(hex, name);
    return new DurableObjectId(hex, name);
  }

  /** @param {DurableObjectId} id @returns {DurableObject} */
  get(id) {
    if (!(id instanceof DurableObjectId)) throw new TypeError('get() needs a DurableObjectId');
    return new DurableObject(this, id);
  }

  /** @param {string} name @returns {DurableObject} */
  getByName(name) {
    return this.get(this.idFromName(name));
  }

  _slot(id) {
    const hex = id.toString();
    let slot = this._slots.get(hex);
    if (!slot) {
      const file = this._stateDir === null ? null : path.join(this._stateDir, this._className, `${hex}.sqlite`);
      const storage = new DurableObjectStorage({
        db: openDatabase(file),
        sql: this._sqlite,
        onAlarm: (info) => this._deliverAlarm(hex, info),
        log: (m) => this._log(`${hex.slice(0, 8)}: ${m}`),
      });
      const container = this._containerFactory ? this._containerFactory(hex, this._names.get(hex)) : undefined;
      slot = { id, state: /** @type {any} */ (null), instance: null };
      slot.state = new DurableObjectState({
        id,
        storage,
        container,
        log: (m) => this._log(`${hex.slice(0, 8)}: ${m}`),
      });
      this._slots.set(hex, slot);
    }
    return slot;
  }

  /** The live instance for a slot; concurrent first calls share one construction. */
  _instance(slot) {
    if (!slot.instance) {
      const p = Promise.resolve().then(() => this._createInstance(slot.state, this._env));
      slot.instance = p;
      // A constructor that throws leaves no instance behind: the next delivery tries again.
      p.catch(() => {
        if (slot.instance === p) slot.instance = null;
      });
    }
    return slot.instance;
  }

  async _deliverFetch(id, request) {
    this._calls += 1;
    this._sample();
    const slot = this._slot(id);
    const instance = await this._instance(slot);
    const response = await instance.fetch(request);
    this._sample();
    if (!response || typeof response !== 'object' || !('status' in response) || !('headers' in response)) {
      throw new TypeError(`${this._className}.fetch() did not return a Response`);
    }
    return response;
  }

  /** An RPC call: `args` were cloned by the stub; the result and any error are cloned back to the caller. */
  async _deliverCall(id, method, args) {
    this._calls += 1;
    this._rpcCalls += 1;
    this._sample();
    try {
      const instance = await this._instance(this._slot(id));
      if (typeof instance.call !== 'function') throw notImplemented(method);
      return cloneForRpc(await instance.call(method, args));
    } catch (err) {
      throw crossing(err);
    } finally {
      this._sample();
    }
  }

  async _deliverAlarm(hex, info) {
    const slot = this._slots.get(hex);
    if (!slot) return;
    const instance = await this._instance(slot);
    if (typeof instance.alarm !== 'function') {
      this._log(`${hex.slice(0, 8)}: alarm fired but the object has no alarm() handler`);
      return;
    }
    await instance.alarm(info);
  }

  /**
   * The objects of this class whose storage holds anything (a table of their own or a key), and its bytes:
   * those in use here, and with a state folder those kept on disk too.
   * @returns {{objects: number, bytes: number}}
   */
  _storage() {
    const sizes = [...this._slots.values()].map((slot) => slot.state.storage.heldBytes());
    if (this._stateDir !== null) {
      const folder = path.join(this._stateDir, this._className);
      let files = [];
      try {
        files = readdirSync(folder).filter((f) => f.endsWith('.sqlite') && !this._slots.has(f.slice(0, -'.sqlite'.length)));
      } catch (err) {
        if (err.code !== 'ENOENT') throw err; // no object of this class ever stored anything here
      }
      for (const file of files) {
        const db = openExisting(path.join(folder, file));
        try {
          sizes.push(heldBytes(db));
        } finally {
          db.close();
        }
      }
    }
    const held = sizes.filter((bytes) => bytes > 0);
    return { objects: held.length, bytes: held.reduce((a, b) => a + b, 0) };
  }

  /** @returns {{className: string, id: string, name: string | undefined, constructed: boolean}[]} */
  _describe() {
    return [...this._slots.entries()].map(([hex, slot]) => ({
      className: this._className,
      id: hex,
      name: this._names.get(hex),
      constructed: slot.instance !== null,
    }));
  }
}

/** @returns {{className: string, id: string, name: string | undefined, constructed: boolean}[]} */
export function listInstances() {
  return [...namespaces].flatMap((ns) => ns._describe());
}

/** @returns {Record<string, {objects: number, calls: number, rpc: number}>} per class: objects alive here, calls
 * delivered, and how many of them were RPC calls */
export function callSummary() {
  return Object.fromEntries([...namespaces].map((ns) => [ns._className, { objects: ns._slots.size, calls: ns._calls, rpc: ns._rpcCalls }]));
}

/** @returns {Record<string, {objects: number, bytes: number}>} per Durable Object class, what its objects store */
export function storageSummary() {
  return Object.fromEntries([...namespaces].map((ns) => [ns._className, ns._storage()]));
}
