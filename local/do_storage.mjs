// Durable Object storage on SQLite, as workerd keeps it for SQLite-backed classes: the key-value API
// (get/put/delete) in the runtime's own table `_cf_KV`, `sql` for the object's own tables, and
// `transactionSync`. Values are serialised the way workerd serialises them (V8's structured clone), so
// code that mutates a value after put() (or what get() returned) behaves as it will in production.
// One database per object: a file under the state folder, or in memory (lost on exit) without one.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { deserialize, serialize } from 'node:v8';
import Database from 'better-sqlite3';
import { SqlStorage, databaseBytes } from './do_sql.mjs';

/** setTimeout's ceiling; longer alarms are re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const ALARM_RETRY_MS = 1000;

function checkKey(key) {
  if (typeof key !== 'string') throw new TypeError('Durable Object storage keys must be strings');
  return key;
}

/**
 * Open (creating) one object's database: `file` null means in memory.
 * @param {string | null} file
 * @returns {import('better-sqlite3').Database}
 */
export function openDatabase(file) {
  if (file !== null) mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file ?? ':memory:');
  if (file !== null) {
    db.pragma('journal_mode = WAL'); // durable at each commit against a crash of the runtime
    db.pragma('synchronous = NORMAL');
  }
  db.exec('CREATE TABLE IF NOT EXISTS _cf_KV (key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID');
  return db;
}

/** A database kept in a state folder by an earlier run, opened only to be looked at. */
export function openExisting(file) {
  return new Database(file, { readonly: true, fileMustExist: true });
}

/**
 * What a database holds besides the runtime's own bookkeeping: 0 when nothing (no table, view, index or
 * trigger of its own and no key in `_cf_KV`), else its size in bytes, as `sql.databaseSize` reports it.
 * @param {import('better-sqlite3').Database} db
 */
export function heldBytes(db) {
  const held = db.prepare(
    `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\')
         OR EXISTS (SELECT 1 FROM _cf_KV)`,
  ).pluck().get();
  return held ? databaseBytes(db) : 0;
}

export class DurableObjectStorage {
  /**
   * @param {{ onAlarm?: (info: {retryCount: number, isRetry: boolean}) => Promise<void>, log?: (msg: string) => void }} [opts]
   */
  constructor({ db = openDatabase(null), sql = true, onAlarm = async () => {}, log = () => {} } = {}) {
    this._db = db;
    this._sql = sql ? new SqlStorage(db) : null;
    this._kvGet = db.prepare('SELECT value FROM _cf_KV WHERE key = ?').pluck();
    this._kvPut = db.prepare('INSERT OR REPLACE INTO _cf_KV (key, value) VALUES (?, ?)');
    this._kvDelete = db.prepare('DELETE FROM _cf_KV WHERE key = ?');
    /** @type {number | null} */
    this._alarm = null;
    this._timer = null;
    this._alarmRunning = false;
    this._onAlarm = onAlarm;
    this._log = log;
  }

  /** @returns {number} 0 when the object stores nothing, else its database's size in bytes */
  heldBytes() {
    return heldBytes(this._db);
  }

  /** The object's SQL database; only classes listed in a migration's `new_sqlite_classes` have one. */
  get sql() {
    if (this._sql === null) throw new Error('SQL is not enabled for this Durable Object class: list it in new_sqlite_classes');
    return this._sql;
  }

  /**
   * Run fn inside a transaction (a savepoint when nested): committed when it returns, rolled back
   * when it throws (and the error re-thrown). fn must be synchronous, as in workerd: what an async
   * function does after its first await is not part of the transaction.
   * @template T @param {() => T} fn @returns {T}
   */
  transactionSync(fn) {
    if (typeof fn !== 'function') throw new TypeError('transactionSync() needs a function');
    return this._db.transaction(() => fn())();
  }

  _read(key) {
    const bytes = this._kvGet.get(key);
    return bytes === undefined ? undefined : deserialize(bytes);
  }

  /**
   * @param {string | string[]} keys
   * @returns {Promise<any>} the value (or undefined) for one key; a Map of the found keys for an array
   */
  async get(keys) {
    if (Array.isArray(keys)) {
      const out = new Map();
      for (const k of [...keys].map(checkKey).sort()) {
        const value = this._read(k);
        if (value !== undefined) out.set(k, value);
      }
      return out;
    }
    return this._read(checkKey(keys));
  }

  /**
   * put(key, value) or put({key: value, ...}); several entries are written atomically.
   * @param {string | Record<string, any>} keyOrEntries
   * @param {any} [value]
   * @returns {Promise<void>}
   */
  async put(keyOrEntries, value) {
    if (typeof keyOrEntries === 'string') {
      this._kvPut.run(keyOrEntries, serialize(value));
      return;
    }
    if (!keyOrEntries || typeof keyOrEntries !== 'object') throw new TypeError('put() needs a key or an object of entries');
    // Serialise everything first: a value that cannot be cloned must leave storage untouched.
    const entries = Object.entries(keyOrEntries).map(([k, v]) => [k, serialize(v)]);
    this._db.transaction(() => {
      for (const [k, bytes] of entries) this._kvPut.run(k, bytes);
    })();
  }

  /**
   * @param {string | string[]} keys
   * @returns {Promise<boolean | number>} whether the key existed, or how many of the keys existed
   */
  async delete(keys) {
    if (Array.isArray(keys)) {
      const checked = keys.map(checkKey);
      return this._db.transaction(() => checked.reduce((n, k) => n + this._kvDelete.run(k).changes, 0))();
    }
    return this._kvDelete.run(checkKey(keys)).changes > 0;
  }

  /** @param {number | Date} scheduledTime epoch ms or a Date */
  async setAlarm(scheduledTime) {
    const t = scheduledTime instanceof Date ? scheduledTime.getTime() : Number(scheduledTime);
    if (!Number.isFinite(t)) throw new TypeError('setAlarm() needs a number (epoch ms) or a Date');
    this._alarm = t;
    this._arm();
  }

  _arm() {
    if (this._timer) clearTimeout(this._timer);
    this._timer = null;
    if (this._alarm === null || this._alarmRunning) return; // a running handler re-arms when it ends
    const delay = Math.min(Math.max(0, this._alarm - Date.now()), MAX_TIMER_MS);
    this._timer = setTimeout(() => this._fire(), delay);
    this._timer.unref(); // a pending alarm must not keep the runtime alive
  }

  async _fire() {
    this._timer = null;
    if (this._alarm === null) return;
    if (Date.now() < this._alarm) return this._arm(); // a very long alarm: next step
    // Cleared before the handler runs, so alarm() can set the next one.
    this._alarm = null;
    this._alarmRunning = true;
    try {
      for (let retryCount = 0; ; retryCount++) {
        try {
          await this._onAlarm({ retryCount, isRetry: retryCount > 0 });
          return;
        } catch (err) {
          if (retryCount >= 1 || this._alarm !== null) {
            this._log(`alarm() failed, giving up: ${err?.message ?? err}`);
            return;
          }
          this._log(`alarm() failed, retrying in ${ALARM_RETRY_MS} ms: ${err?.message ?? err}`);
          await new Promise((r) => setTimeout(r, ALARM_RETRY_MS).unref());
          if (this._alarm !== null) return; // rescheduled meanwhile: that alarm replaces the retry
        }
      }
    } finally {
      this._alarmRunning = false;
      this._arm();
    }
  }
}
