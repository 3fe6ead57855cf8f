// ctx.storage.sql and transactionSync on a real SQLite, with workerd's surface and traps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DurableObjectStorage, openDatabase } from '../do_storage.mjs';
import { SqlStorage, SqlStorageCursor, splitStatements } from '../do_sql.mjs';
import { DurableObjectNamespace } from '../durable_objects.mjs';

const fresh = () => new DurableObjectStorage();

test('class names as in workerd (the Python SDK reads constructor.name)', () => {
  const s = fresh();
  assert.equal(s.sql.constructor.name, 'SqlStorage');
  assert.equal(s.sql.exec('SELECT 1').constructor.name, 'SqlStorageCursor');
  assert.ok(s.sql instanceof SqlStorage);
});

test('cursor: toArray, one, raw, iteration, columnNames, rowsRead, rowsWritten', () => {
  const { sql } = fresh();
  const created = sql.exec('CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER, r REAL, b BLOB, z)');
  assert.deepEqual(created.toArray(), []);
  assert.deepEqual(created.columnNames, []);
  const ins = sql.exec('INSERT INTO t VALUES (?, ?, ?, ?, ?), (?, ?, ?, ?, ?)', 'a', 1, 1.5, new Uint8Array([1, 2]), null, 'b', 2, 2.5, null, 'x');
  assert.equal(ins.rowsWritten, 2);
  assert.deepEqual(ins.toArray(), []);

  const all = sql.exec('SELECT k, n, r, b, z FROM t ORDER BY k');
  assert.deepEqual(all.columnNames, ['k', 'n', 'r', 'b', 'z']);
  const rows = all.toArray();
  assert.equal(all.rowsRead, 2);
  assert.equal(all.rowsWritten, 0);
  assert.deepEqual(rows.map((r) => [r.k, r.n, r.r, r.z]), [['a', 1, 1.5, null], ['b', 2, 2.5, 'x']]);
  assert.ok(rows[0].b instanceof ArrayBuffer, 'a BLOB reads back as an ArrayBuffer');
  assert.deepEqual([...new Uint8Array(rows[0].b)], [1, 2]);
  assert.equal(rows[1].b, null);
  assert.deepEqual(all.toArray(), [], 'a cursor is read once');

  assert.deepEqual([...sql.exec('SELECT k FROM t ORDER BY k')].map((r) => r.k), ['a', 'b']);
  const it = sql.exec('SELECT k FROM t ORDER BY k');
  assert.deepEqual(it.next(), { done: false, value: { k: 'a' } });
  assert.deepEqual(it.toArray(), [{ k: 'b' }], 'toArray returns what is left');
  assert.deepEqual(sql.exec('SELECT k, n FROM t ORDER BY k').raw().toArray(), [['a', 1], ['b', 2]]);
  assert.deepEqual([...sql.exec('SELECT n FROM t ORDER BY k').raw()], [[1], [2]]);

  assert.deepEqual(sql.exec('SELECT n FROM t WHERE k = ?', 'b').one(), { n: 2 });
  assert.throws(() => sql.exec('SELECT n FROM t WHERE k = ?', 'nope').one(), /no results/);
  assert.throws(() => sql.exec('SELECT n FROM t').one(), /multiple results/);

  const upd = sql.exec('UPDATE t SET n = n + 1 RETURNING k, n');
  assert.equal(upd.rowsWritten, 2);
  assert.deepEqual(upd.toArray().map((r) => r.n).sort(), [2, 3]);
  assert.ok(Number.isInteger(sql.databaseSize) && sql.databaseSize > 0);
});

test('several statements: all run, the cursor is the last one, bindings go to the last', () => {
  const { sql } = fresh();
  const c = sql.exec(`
    CREATE TABLE a (x); -- a comment; with a semicolon
    CREATE TRIGGER tr AFTER INSERT ON a BEGIN INSERT INTO a_log VALUES (new.x); SELECT CASE WHEN 1 THEN 1 END; END;
    CREATE TABLE a_log (x);
    INSERT INTO a VALUES ('semi;colon');
    SELECT x FROM a WHERE x != ?`, 'other');
  assert.deepEqual(c.toArray(), [{ x: 'semi;colon' }]);
  assert.deepEqual(sql.exec('SELECT x FROM a_log').toArray(), [{ x: 'semi;colon' }], 'the trigger body was one statement');
  assert.deepEqual(splitStatements("SELECT ';'; ; SELECT 2"), ["SELECT ';'", ' SELECT 2']);
  assert.throws(() => sql.exec('  -- nothing '), /SQLITE_MISUSE/);
});

test('traps as in workerd: booleans as TEXT, BigInt refused, objects as their string, errors end with the code', () => {
  const { sql } = fresh();
  sql.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v)');
  sql.exec('INSERT INTO t VALUES (?, ?)', 'bool', true);
  assert.deepEqual(sql.exec("SELECT v, typeof(v) AS type FROM t WHERE k = 'bool'").one(), { v: 'true', type: 'text' });
  const pyBytes = { toString: () => "b'\\x01'" }; // a Python bytes object passed without to_js()
  sql.exec('INSERT INTO t VALUES (?, ?)', 'bytes', pyBytes);
  assert.deepEqual(sql.exec("SELECT v FROM t WHERE k = 'bytes'").one(), { v: "b'\\x01'" });
  assert.throws(() => sql.exec('INSERT INTO t VALUES (?, ?)', 'big', 2n ** 53n), TypeError);
  sql.exec('INSERT INTO t VALUES (?, ?)', 'huge', '9007199254740993');
  assert.equal(sql.exec("SELECT CAST(v AS INTEGER) AS v FROM t WHERE k = 'huge'").one().v, 9007199254740992, 'lossy past 2^53');
  assert.throws(() => sql.exec('INSERT INTO t VALUES (?, ?)', 'bool', 1), (err) => {
    assert.ok(err instanceof Error);
    assert.match(err.message, /UNIQUE constraint failed: t\.k: SQLITE_CONSTRAINT$/);
    return true;
  });
  assert.throws(() => sql.exec('SELEC 1'), /syntax error: SQLITE_ERROR$/);
  assert.throws(() => sql.exec('SELECT * FROM missing'), /no such table: missing: SQLITE_ERROR$/);
  for (const q of ['BEGIN', 'begin transaction', 'SAVEPOINT sp', '/* x */ COMMIT', 'ROLLBACK', 'RELEASE sp', 'SELECT 1; BEGIN']) {
    assert.throws(() => sql.exec(q), /transactionSync/, q);
  }
  assert.throws(() => sql.exec('SELECT * FROM _cf_KV'), /SQLITE_AUTH/);
});

test('transactionSync: returns the value, commits; rolls back and re-throws on error; nests', () => {
  const storage = fresh();
  const { sql } = storage;
  sql.exec('CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER)');
  assert.equal(storage.transactionSync(() => {
    sql.exec("INSERT INTO t VALUES ('a', 1)");
    return 'done';
  }), 'done');
  assert.throws(() => storage.transactionSync(() => {
    sql.exec("INSERT INTO t VALUES ('b', 2)");
    sql.exec("UPDATE t SET n = 100 WHERE k = 'a'");
    throw new Error('abandon');
  }), /abandon/);
  assert.deepEqual(sql.exec('SELECT k, n FROM t').toArray(), [{ k: 'a', n: 1 }], 'nothing of the failed one remains');
  storage.transactionSync(() => {
    sql.exec("INSERT INTO t VALUES ('c', 3)");
    assert.throws(() => storage.transactionSync(() => {
      sql.exec("INSERT INTO t VALUES ('d', 4)");
      throw new Error('inner');
    }));
  });
  assert.deepEqual(sql.exec('SELECT k FROM t ORDER BY k').toArray().map((r) => r.k), ['a', 'c'], 'the inner one alone rolled back');
  assert.throws(() => storage.transactionSync('nope'), TypeError);
});

test('a class that is not SQLite-backed has no sql', () => {
  const kvOnly = new DurableObjectStorage({ sql: false });
  assert.throws(() => kvOnly.sql, /new_sqlite_classes/);
});

test('persistence: key-value and SQL survive a reopen of the state folder; no folder = memory', async () => {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'do-state-'));
  const make = () => new DurableObjectNamespace({
    className: 'Keys', env: {}, stateDir, log: () => {},
    createInstance: (state) => ({
      async fetch(req) {
        if (req.method === 'POST') {
          state.storage.sql.exec('CREATE TABLE IF NOT EXISTS t (v TEXT)');
          state.storage.sql.exec('INSERT INTO t VALUES (?)', 'row');
          await state.storage.put('k', { nested: [1, 2] });
          return new Response('written');
        }
        return Response.json({ rows: state.storage.sql.exec('SELECT v FROM t').toArray(), kv: await state.storage.get('k') });
      },
    }),
  });
  // Written by another process that then exits: a restart of the runtime.
  const writer = `
    import { DurableObjectNamespace } from ${JSON.stringify(new URL('../durable_objects.mjs', import.meta.url).href)};
    const ns = new DurableObjectNamespace({ className: 'Keys', env: {}, stateDir: ${JSON.stringify(stateDir)}, log: () => {},
      createInstance: (state) => ({ async fetch() {
        state.storage.sql.exec('CREATE TABLE IF NOT EXISTS t (v TEXT)');
        state.storage.sql.exec('INSERT INTO t VALUES (?)', 'row');
        await state.storage.put('k', { nested: [1, 2] });
        return new Response('written');
      } }) });
    await ns.getByName('one').fetch('http://do/');`;
  execFileSync(process.execPath, ['--input-type=module', '-e', writer]);
  const again = await (await make().getByName('one').fetch('http://do/')).json();
  assert.deepEqual(again, { rows: [{ v: 'row' }], kv: { nested: [1, 2] } });
  const file = path.join(stateDir, 'Keys', `${make().idFromName('one')}.sqlite`);
  assert.ok(existsSync(file), file);
  const other = await (await make().getByName('two').fetch('http://do/', { method: 'POST' })).text();
  assert.equal(other, 'written', 'each object has its own database');
  const memory = new DurableObjectStorage({ db: openDatabase(null) });
  await memory.put('x', 1);
  assert.equal(await new DurableObjectStorage({ db: openDatabase(null) }).get('x'), undefined);
  assert.ok(new SqlStorageCursor({ columnNames: [], rows: [], rowsRead: 0, rowsWritten: 0 }).next().done);
});

test('from Python through the workers SDK: exec, one(), iteration, transactionSync rollback, errors', async () => {
  const { loadWorker } = await import('../pyodide_host.mjs');
  const root = new URL('../..', import.meta.url).pathname;
  const worker = await loadWorker({ root, main: 'local/test/fixtures/sql_worker/entry.py', env: {}, waitUntil() {}, log: () => {} });
  const ns = new DurableObjectNamespace({
    className: 'Ledger', env: {}, log: () => {},
    createInstance: (state, env) => worker.durableObjectFactory('Ledger')(state, env),
  });
  const body = await (await ns.getByName('k').fetch('http://do/')).json();
  assert.deepEqual(body, {
    row: { key: 'a', cents: 5, flag: 'true' }, // a Python True is bound as the TEXT 'true', as in workerd
    rolled_back: true,
    error_tail: 'SQLITE_CONSTRAINT',
    rows: [{ key: 'a' }],
    size_is_int: true,
  });
});

test('a query run again reuses its prepared statements, prepared afresh after a schema change', () => {
  const { sql } = fresh();
  sql.exec('CREATE TABLE t (a INTEGER)');
  const insert = 'INSERT INTO t (a) VALUES (?)';
  sql.exec(insert, 1);
  const select = 'SELECT * FROM t ORDER BY a';
  assert.deepEqual(sql.exec(select).toArray(), [{ a: 1 }]);
  const cached = sql._cache.get(select)[0].statement;
  sql.exec(select);
  assert.equal(sql._cache.get(select)[0].statement, cached); // reused
  sql.exec('ALTER TABLE t ADD COLUMN b TEXT');
  sql.exec(insert, 2);
  assert.deepEqual(sql.exec(select).toArray(), [{ a: 1, b: null }, { a: 2, b: null }]);
  assert.throws(() => sql.exec('BEGIN'), /SQLITE_AUTH/);
  assert.throws(() => sql.exec('BEGIN'), /SQLITE_AUTH/); // refused again: a refused query is never cached
});
