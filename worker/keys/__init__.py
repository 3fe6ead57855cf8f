"""Virtual keys: the LiteLLM-compatible key API (`admin`, `fields`, `record`, `report`), per-key limits, budgets and
reservations (`limits`, `reservations`), key material (`material`), a key object's state (`store`) and the key
directory (`directory`), the operations both objects answer (`ops`, pure) and the two Durable Object classes
(`objects`), the calls to them (`client`, over `rpc`), and who pays for a forwarded request (`ticket`).
"""
