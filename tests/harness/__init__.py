"""One harness for the suites and the bench: launching the local runtime, a LiteLLM through
container/start.sh and the fake provider, plus the process helpers they share.

`tests/` and `bench/` both import from here; `tests/` never imports `bench`.
"""

from tests.fakes.provider_process import FakeProvider
from tests.harness.litellm import LiteLLMDirect
from tests.harness.procs import ROOT, free_port, wait_for
from tests.harness.runtime import Gateway, RawResponse, start_gateway

__all__ = ["ROOT", "FakeProvider", "Gateway", "LiteLLMDirect", "RawResponse", "free_port", "start_gateway",
           "wait_for"]
