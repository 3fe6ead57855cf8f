"""The internal protocol between the Worker and its Durable Objects: one home for every name they share.

The edge (entry.py) reaches three kinds of Durable Object through these bindings (wrangler.jsonc
`durable_objects.bindings`, checked by tests/project): the container instances, one object per virtual key, and
the key directory. What it asks an instance outside client traffic travels on the `/__gateway/*` paths; what a
client request carries to an instance travels in `x-gateway-*` headers, which the edge always sets or deletes
itself (a client's copy never reaches an object) and header_policy drops before LiteLLM. Key objects answer
`OP_PATH<op>` (keys.objects).
"""

from __future__ import annotations

CONTAINER_BINDING = "LITELLM_CONTAINER"  # LiteLLMContainer: one object per container instance (instances.py)
KEYS_BINDING = "VIRTUAL_KEYS"  # VirtualKey: one object per key, named by its token
DIRECTORY_BINDING = "KEY_DIRECTORY"  # KeyDirectory: the one index of keys

# Edge -> container instance, outside client traffic (the edge never forwards these paths from a client).
STATE_PATH = "/__gateway/state"  # for /health
WARM_PATH = "/__gateway/warm"  # the scheduled warm-up: boot now, answer the state
LEDGER_PATH = "/__gateway/ledger"  # the master key's usage served here, for /spend/report (?start_day&end_day)
RECENT_PATH = "/__gateway/recent"  # the master key's recent requests served here, for /spend/logs (?limit)
# The same four as one Durable Object RPC method, `await stub.internal({"instance": name, "path": path})`, answering
# the dict the path's JSON would carry; the paths stay, for a Worker one version behind during a deploy.
INTERNAL_METHOD = "internal"

# Edge -> container instance, on a client's request.
INSTANCE_HEADER = "x-gateway-instance"  # which instance this is (its name), on every call
# Warm-sibling routing: "boot" = serve if ready, else start booting and say cold; "peek" = serve if ready, else
# say cold. A cold instance answers 503 with COLD_HEADER, never seen by clients.
WARM_ONLY_HEADER = "x-gateway-warm-only"
COLD_HEADER = "x-gateway-cold"
TICKET_HEADER = "x-gateway-ticket"  # who pays for the request (keys.ticket)

# Edge and container instance -> key objects and the directory.
OP_PATH = "/__keys/"
