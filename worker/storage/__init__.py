"""SQLite in Durable Objects: the surface the objects need and schema migrations kept in code (`sql`, pure), and
workerd's `ctx.storage.sql` behind it (`workerd_sql`).
"""
