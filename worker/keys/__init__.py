"""Virtual keys: LiteLLM-compatible key API, per-key limits and budgets, and a usage ledger.

Pure modules (import on CPython, unit-tested against the real `sqlite3`): `material`, `periods`, `sql`,
`fields`, `record`, `limits`, `reservations`, `store`, `directory`, `report`, `usage`, `pricing`, `ops`,
`admin`, `gate`, `ticket`, `ledger`.
Modules that touch workerd's JS objects: `workerd_sql` (ctx.storage.sql), `objects` (the two Durable
Object classes) and `edge_rpc` (the edge's calls to them).
"""
