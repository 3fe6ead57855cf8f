#!/bin/sh
# How LiteLLM starts: the one definition shared by the image (Dockerfile CMD) and by the local
# runtime (local/containers.mjs runs this very file). Defaults below are the container's defaults;
# anything already in the environment (what the Durable Object passes to start()) wins.
set -eu

here=$(cd "$(dirname "$0")" && pwd)

# Listen address: 4000 inside a Cloudflare Container; the local runtime maps it to a free port.
: "${PORT:=4000}"
: "${HOST:=0.0.0.0}"
# One worker per vCPU is LiteLLM's sweet spot; the instance type we ship has half a vCPU.
: "${LITELLM_NUM_WORKERS:=1}"
# The demo models (mock responses, no provider key, no internet) are opt-in: make dev turns them on.
if [ "${DEMO_MODELS:-false}" = "true" ]; then
  : "${LITELLM_CONFIG:=$here/demo_config.yaml}"
else
  : "${LITELLM_CONFIG:=$here/../litellm_config.yaml}"
fi

# Never fetch the model price map from the internet at boot: the one bundled with the pinned LiteLLM prices
# requests (a model it lacks is priced in litellm_config.yaml's model_info; tests/project/test_model_prices.py).
# Never serve docs or the admin UI; log JSON lines (LiteLLM masks keys in its own logs).
export LITELLM_LOCAL_MODEL_COST_MAP="${LITELLM_LOCAL_MODEL_COST_MAP:-True}"
export NO_DOCS="${NO_DOCS:-True}"
export NO_REDOC="${NO_REDOC:-True}"
export DISABLE_ADMIN_UI="${DISABLE_ADMIN_UI:-True}"
export JSON_LOGS="${JSON_LOGS:-True}"
export LITELLM_LOG="${LITELLM_LOG:-WARNING}"

# Stock LiteLLM through boot_gc.py: its CLI with the GC paused during boot (-24% boot CPU, see
# bench/LEVERS.md); LiteLLM's own worker startup hook resumes it. (With --num_workers > 1 the
# supervisor process never runs the hook and keeps the GC off: it only watches its workers.)
export LITELLM_WORKER_STARTUP_HOOKS="${LITELLM_WORKER_STARTUP_HOOKS:+$LITELLM_WORKER_STARTUP_HOOKS,}boot_gc:resume"
exec python "$here/boot_gc.py" --config "$LITELLM_CONFIG" --host "$HOST" --port "$PORT" --num_workers "$LITELLM_NUM_WORKERS"
