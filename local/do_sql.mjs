// `ctx.storage.sql` of a SQLite-backed Durable Object, on a real SQLite (better-sqlite3), shaped like
// workerd's SqlStorage / SqlStorageCursor, with workerd's traps kept so code that passes here works there:
//   - bindings: null, number, string, ArrayBuffer/typed array (BLOB); a BigInt (a Python int >= 2^53)
//     is refused with a TypeError; anything else is bound as its string form (a JS boolean becomes the
//     TEXT 'true', a Python bytes object passed without to_js() the TEXT "b'...'");
//   - integers read back as JS numbers (lossy past 2^53), BLOBs as ArrayBuffer, NULL as null;
//   - SQL errors are Errors whose message ends with the primary SQLite code (`...: SQLITE_CONSTRAINT`);
//   - BEGIN / SAVEPOINT / COMMIT / ROLLBACK / RELEASE are refused (use storage.transactionSync);
//   - tables named `_cf_*` belong to the runtime (the key-value API lives in `_cf_KV`) and are refused.
// Differences: a statement runs in full when exec() is called (workerd steps lazily as the cursor is
// read), and rowsRead counts the rows returned, not the rows SQLite scanned.

const TRANSACTION_REFUSED =
  'To execute a transaction, please use the state.storage.transaction() or state.storage.transactionSync() ' +
  'APIs instead of the SQL BEGIN TRANSACTION or SAVEPOINT statements: SQLITE_AUTH';
const STATEMENT_CACHE_MAX_CHARS = 1024 * 1024; // workerd's SQL_STATEMENT_CACHE_MAX_SIZE
const SCHEMA_KEYWORDS = new Set(['CREATE', 'ALTER', 'DROP']);
const TRANSACTION_KEYWORDS = new Set(['BEGIN', 'SAVEPOINT', 'RELEASE', 'COMMIT', 'END', 'ROLLBACK']);

/**
 * An Error as workerd reports SQLite failures: the message ends with the primary result code.
 * @param {any} err
 */
function sqlError(err) {
  if (typeof err?.code === 'string' && err.code.startsWith('SQLITE_')) {
    const primary = err.code.split('_').slice(0, 2).join('_');
    return new Error(`${err.message}: ${primary}`);
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** @param {any} value a binding as it arrives from JS (or Python through Pyodide) */
function toBinding(value) {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number' || typeof value === 'string') return value;
  if (typeof value === 'bigint') throw new TypeError('Cannot convert a BigInt value to a number (SQL binding)');
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  if (ArrayBuffer.isView(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return String(value);
}

/** @param {any} value a column value from better-sqlite3 */
function fromColumn(value) {
  if (Buffer.isBuffer(value)) return value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength);
  return value;
}

/**
 * Split a script into statements on `;` outside strings, comments and CREATE TRIGGER ... END bodies.
 * @param {string} sql
 * @returns {string[]} the statements, each with some SQL besides comments
 */
export function splitStatements(sql) {
  const out = [];
  let start = 0;
  let depth = 0; // BEGIN/CASE ... END nesting inside a trigger body
  let words = []; // the first words of the current statement
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    if (c === "'" || c === '"' || c === '`' || c === '[') {
      const close = c === '[' ? ']' : c;
      i = sql.indexOf(close, i + 1);
      if (i < 0) break;
      i++;
    } else if (c === '-' && sql[i + 1] === '-') {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? sql.length : nl + 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < sql.length && /[A-Za-z0-9_$]/.test(sql[j])) j++;
      const word = sql.slice(i, j).toUpperCase();
      if (words.length < 4) words.push(word);
      const inTrigger = words[0] === 'CREATE' && words.slice(1, 4).includes('TRIGGER');
      if (inTrigger && (word === 'BEGIN' || word === 'CASE')) depth++;
      else if (inTrigger && word === 'END') depth--;
      i = j;
    } else if (c === ';' && depth <= 0) {
      if (sql.slice(start, i).trim()) out.push(sql.slice(start, i));
      start = i + 1;
      words = [];
      depth = 0;
      i++;
    } else {
      i++;
    }
  }
  if (sql.slice(start).trim()) out.push(sql.slice(start));
  // A piece holding only comments is no statement.
  return out.filter((piece) => piece.replace(/--[^\n]*|\/\*[\s\S]*?\*\//g, '').trim() !== '');
}

/** The first keyword of a statement, comments skipped. */
function firstKeyword(statement) {
  const m = /^(?:\s|--[^\n]*\n|\/\*[\s\S]*?\*\/)*([A-Za-z]+)/.exec(statement);
  return m ? m[1].toUpperCase() : '';
}

/** @param {import('better-sqlite3').Database} db @returns {number} page count x page size */
export function databaseBytes(db) {
  return db.pragma('page_count', { simple: true }) * db.pragma('page_size', { simple: true });
}

export class SqlStorageCursor {
  /** @param {{ columnNames: string[], rows: any[][], rowsRead: number, rowsWritten: number }} result */
  constructor({ columnNames, rows, rowsRead, rowsWritten }) {
    this.columnNames = columnNames;
    this.rowsRead = rowsRead;
    this.rowsWritten = rowsWritten;
    this._rows = rows;
    this._next = 0;
  }

  _object(raw) {
    return Object.fromEntries(this.columnNames.map((name, i) => [name, raw[i]]));
  }

  /** @returns {{ done: boolean, value?: Record<string, any> }} */
  next() {
    if (this._next >= this._rows.length) return { done: true, value: undefined };
    return { done: false, value: this._object(this._rows[this._next++]) };
  }

  [Symbol.iterator]() {
    return this;
  }

  /** The rows not yet read, as objects keyed by column name. */
  toArray() {
    const rest = this._rows.slice(this._next).map((raw) => this._object(raw));
    this._next = this._rows.length;
    return rest;
  }

  /** The single row; throws when there is none or more than one. */
  one() {
    const rest = this.toArray();
    if (rest.length === 0) throw new Error('Expected exactly one result from SQL query, but got no results.');
    if (rest.length > 1) throw new Error('Expected exactly one result from SQL query, but got multiple results.');
    return rest[0];
  }

  /** The rows not yet read as arrays of values (iterable, with toArray()). */
  raw() {
    const cursor = this;
    const iterator = {
      next() {
        if (cursor._next >= cursor._rows.length) return { done: true, value: undefined };
        return { done: false, value: cursor._rows[cursor._next++] };
      },
      toArray() {
        const rest = cursor._rows.slice(cursor._next);
        cursor._next = cursor._rows.length;
        return rest;
      },
      [Symbol.iterator]() {
        return iterator;
      },
    };
    return iterator;
  }
}

export class SqlStorage {
  /** @param {import('better-sqlite3').Database} db */
  constructor(db) {
    this._db = db;
    this._totalChanges = db.prepare('SELECT total_changes()').pluck();
    // Prepared statements by query string, least recently used first, as workerd's SqlStorage keeps them
    // (evicted past 1 MiB of SQL text): a query run again is not parsed or prepared again.
    /** @type {Map<string, {text: string, statement: any, changesSchema: boolean}[]>} */
    this._cache = new Map();
    this._cachedChars = 0;
  }

  /**
   * The query's statements, prepared (and checked against what workerd refuses) once per query string.
   * @param {string} query
   */
  _prepared(query) {
    const hit = this._cache.get(query);
    if (hit) {
      this._cache.delete(query); // most recently used goes last
      this._cache.set(query, hit);
      return hit;
    }
    const statements = splitStatements(query);
    if (statements.length === 0) throw new Error('SQL query did not contain any statements: SQLITE_MISUSE');
    const prepared = statements.map((text) => {
      const keyword = firstKeyword(text);
      if (TRANSACTION_KEYWORDS.has(keyword)) throw new Error(TRANSACTION_REFUSED);
      if (/\b_cf_/i.test(text)) throw new Error('access to internal runtime tables (_cf_*) is prohibited: SQLITE_AUTH');
      return { text, statement: null, changesSchema: SCHEMA_KEYWORDS.has(keyword) };
    });
    this._cache.set(query, prepared);
    this._cachedChars += query.length;
    for (const [old] of this._cache) {
      if (this._cachedChars <= STATEMENT_CACHE_MAX_CHARS) break;
      this._cache.delete(old);
      this._cachedChars -= old.length;
    }
    return prepared;
  }

  /**
   * Run `query` (one or more statements); the cursor holds the last statement's rows. Bindings belong
   * to the last statement.
   * @param {string} query
   * @param {...any} bindings
   * @returns {SqlStorageCursor}
   */
  exec(query, ...bindings) {
    if (typeof query !== 'string') throw new TypeError('exec() needs a SQL string');
    const statements = this._prepared(query);
    const values = bindings.map(toBinding);
    let result = { columnNames: [], rows: [], rowsRead: 0, rowsWritten: 0 };
    for (const [n, entry] of statements.entries()) {
      const last = n === statements.length - 1;
      try {
        // Prepared on first run: a script's later statements may need the tables its earlier ones create.
        entry.statement ??= this._db.prepare(entry.text);
        const statement = entry.statement;
        const before = this._totalChanges.get();
        const params = last ? values : [];
        let columnNames = [];
        let rows = [];
        if (statement.reader) {
          columnNames = statement.columns().map((col) => col.name);
          rows = statement.raw(true).all(...params).map((row) => row.map(fromColumn));
        } else {
          statement.run(...params);
        }
        const written = this._totalChanges.get() - before;
        result = { columnNames, rows, rowsRead: result.rowsRead + rows.length, rowsWritten: result.rowsWritten + written };
        if (entry.changesSchema) {
          // better-sqlite3 keeps a statement's columns from when it was prepared: prepare afresh after DDL.
          this._cache.clear();
          this._cachedChars = 0;
        }
      } catch (err) {
        throw sqlError(err);
      }
    }
    return new SqlStorageCursor(result);
  }

  /** Bytes on disk (page count x page size), as workerd reports it. */
  get databaseSize() {
    return databaseBytes(this._db);
  }
}
