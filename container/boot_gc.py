"""Start the stock LiteLLM proxy (its own CLI, unchanged) with Python's cyclic GC paused while it boots.

Why: importing LiteLLM's proxy allocates ~700k long-lived objects and no garbage worth collecting, yet
the GC keeps traversing them: a quarter of boot CPU (bench/LEVERS.md). start.sh registers resume()
as a LiteLLM worker startup hook (LITELLM_WORKER_STARTUP_HOOKS), which runs once the app is
imported: it moves everything allocated so far out of the GC's reach (gc.freeze, so a full
collection no longer walks those objects: ~300 ms each otherwise) and turns the GC back on.
"""

import gc
import sys


def resume() -> None:
    """LiteLLM worker startup hook: boot objects become permanent, then collect as usual."""
    gc.freeze()
    gc.enable()


if __name__ == "__main__":
    gc.disable()
    from litellm import run_server  # the same entry point as the `litellm` console script

    sys.exit(run_server())
