// In-memory Durable Object storage: the key-value API and alarms. Values are structured-cloned on the
// way in and out, as workerd serialises them, so code that mutates a value after put() (or mutates
// what get() returned) behaves as it will in production.

/** setTimeout's ceiling; longer alarms are re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const ALARM_RETRY_MS = 1000;

function checkKey(key) {
  if (typeof key !== 'string') throw new TypeError('Durable Object storage keys must be strings');
  return key;
}

export class DurableObjectStorage {
  /**
   * @param {{ onAlarm?: (info: {retryCount: number, isRetry: boolean}) => Promise<void>, log?: (msg: string) => void }} [opts]
   */
  constructor({ onAlarm = async () => {}, log = () => {} } = {}) {
    /** @type {Map<string, any>} */
    this._data = new Map();
    /** @type {number | null} */
    this._alarm = null;
    this._timer = null;
    this._alarmRunning = false;
    this._onAlarm = onAlarm;
    this._log = log;
  }

  /**
   * @param {string | string[]} keys
   * @returns {Promise<any>} the value (or undefined) for one key; a Map of the found keys for an array
   */
  async get(keys) {
    if (Array.isArray(keys)) {
      const out = new Map();
      for (const k of [...keys].map(checkKey).sort()) {
        if (this._data.has(k)) out.set(k, structuredClone(this._data.get(k)));
      }
      return out;
    }
    checkKey(keys);
    return this._data.has(keys) ? structuredClone(this._data.get(keys)) : undefined;
  }

  /**
   * put(key, value) or put({key: value, ...}).
   * @param {string | Record<string, any>} keyOrEntries
   * @param {any} [value]
   * @returns {Promise<void>}
   */
  async put(keyOrEntries, value) {
    if (typeof keyOrEntries === 'string') {
      this._data.set(keyOrEntries, structuredClone(value));
      return;
    }
    if (!keyOrEntries || typeof keyOrEntries !== 'object') throw new TypeError('put() needs a key or an object of entries');
    // Clone everything first: a value that cannot be cloned must leave storage untouched.
    const cloned = Object.entries(keyOrEntries).map(([k, v]) => [k, structuredClone(v)]);
    for (const [k, v] of cloned) this._data.set(k, v);
  }

  /**
   * @param {string | string[]} keys
   * @returns {Promise<boolean | number>} whether the key existed, or how many of the keys existed
   */
  async delete(keys) {
    if (Array.isArray(keys)) {
      let n = 0;
      for (const k of keys) if (this._data.delete(checkKey(k))) n++;
      return n;
    }
    return this._data.delete(checkKey(keys));
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
