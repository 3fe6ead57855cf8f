// Durable Objects as workerd shapes them, in memory: namespace binding -> id -> stub -> the one live
// instance per id. Class names matter: the Python SDK recognises bindings by `constructor.name`.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { DurableObjectStorage, openDatabase } from './do_storage.mjs';

export { DurableObjectStorage };

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

/** The stub a namespace hands out (workerd's stub class is also called DurableObject). */
export class DurableObject {
  /** @param {DurableObjectNamespace} ns @param {DurableObjectId} id */
  constructor(ns, id) {
    this._ns = ns;
    this.id = id;
    if (id.name !== undefined) this.name = id.name;
  }

  /**
   * @param {string | URL | Request} input
   * @param {RequestInit} [init]
   * @returns {Promise<Response>}
   */
  async fetch(input, init) {
    // A new Request takes over the body stream of `input` without copying it.
    const request = new Request(input, { ...(init ?? {}), duplex: 'half' });
    return this._ns._deliverFetch(this.id, request);
  }
}

export class DurableObjectNamespace {
  /**
   * @param {{ className: string,
   *   createInstance: (state: DurableObjectState, env: any) => any,
   *   env: any,
   *   containerFactory?: (idString: string) => any,
   *   stateDir?: string | null, sqlite?: boolean,
   *   log?: (msg: string) => void }} opts
   *   stateDir: each object's database is `<stateDir>/<className>/<id>.sqlite` (kept across restarts);
   *   null keeps it in memory. sqlite: the class is SQLite-backed (has `ctx.storage.sql`).
   *   createInstance returns (or resolves to) `{ fetch(request): Promise<Response>, alarm?(info): Promise<void> }`.
   */
  constructor({ className, createInstance, env, containerFactory, stateDir = null, sqlite = true, log = (m) => console.error(m) }) {
    this._className = className;
    this._stateDir = stateDir;
    this._sqlite = sqlite;
    this._createInstance = createInstance;
    this._env = env;
    this._containerFactory = containerFactory;
    this._log = (m) => log(`[${className}] ${m}`);
    /** @type {Map<string, {id: DurableObjectId, state: DurableObjectState, instance: Promise<any> | null}>} */
    this._slots = new Map();
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
    const slot = this._slot(id);
    const instance = await this._instance(slot);
    const response = await instance.fetch(request);
    if (!response || typeof response !== 'object' || !('status' in response) || !('headers' in response)) {
      throw new TypeError(`${this._className}.fetch() did not return a Response`);
    }
    return response;
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
