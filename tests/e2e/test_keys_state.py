"""Where keys live (issue 11 §2-3, §5): each key's limits are decided by its own Durable Object, so they
hold across CONTAINER_INSTANCES=2; keys, windows and the ledger are in Durable Object SQLite that survives
a restart of the runtime (--state-dir); only hashes are at rest, and no key reaches any log.

One runtime with two instances and a state dir, restarted once (without containers: everything checked
after the restart is answered before any container is asked).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from keys.material import token_of
from tests.e2e.conftest import E2E_KEY
from tests.e2e.keys_admin import KeyAdmin, bearer, chat_body, together
from tests.e2e.test_scaling import INSTANCES, affinity_key, served, served_since
from tests.fakes.litellm_config import container_test_env
from tests.harness import FakeProvider, Gateway, start_gateway, wait_for

pytestmark = pytest.mark.local_only


@dataclass
class Runtime:
    state_dir: Path
    admin: KeyAdmin
    stopped_logs: list[str] = field(default_factory=list)  # the output of runtimes already stopped

    @property
    def gateway(self) -> Gateway:
        return self.admin.gateway

    def restart(self) -> None:
        """Stop, and start again on the same state dir (no containers), keeping the keys issued so far."""
        self.stopped_logs.append(self.gateway.log_text())
        self.gateway.stop()
        issued = self.admin.issued
        self.admin = KeyAdmin(start_gateway(key=E2E_KEY, litellm_config=None, containers=False,
                                            state_dir=self.state_dir))
        self.admin.issued = issued


@pytest.fixture(scope="module")
def runtime(litellm_config: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    state_dir = tmp_path_factory.mktemp("keys-state")
    gateway = start_gateway(key=E2E_KEY, litellm_config=litellm_config, env={"CONTAINER_INSTANCES": "2"},
                            container_env={**container_test_env(), "LITELLM_LOG": "INFO"}, state_dir=state_dir)
    state = Runtime(state_dir, KeyAdmin(gateway))
    try:
        warm = together(len(INSTANCES), lambda n: affine_chat(gateway, E2E_KEY, f"warm-{n}", INSTANCES[n]))
        assert [answer.status_code for answer in warm] == [200, 200], [answer.text for answer in warm]
        wait_for(lambda: {i["state"] for i in gateway.health()["instances"]} == {"ready"}, 30.0)
        yield state
    finally:
        state.gateway.stop()


def affine_chat(gateway: Gateway, key: str, content: str, instance: str, model: str = "gpt-4o-mini",
                **extra: object) -> httpx.Response:
    """A chat the edge sends to `instance` (both instances are warm, so no sibling takes it)."""
    headers = {**bearer(key), "x-session-affinity": affinity_key(instance)}
    with gateway.client.stream("POST", "/v1/chat/completions", json=chat_body(content, model, **extra),
                               headers=headers) as answer:
        answer.read()
        return answer


def test_rpm_limit_is_shared_by_both_instances(runtime: Runtime, provider: FakeProvider) -> None:
    gateway, key = runtime.gateway, runtime.admin.generate(rpm_limit=4)
    before = served(gateway)
    first = [affine_chat(gateway, key, f"shared-{n}", INSTANCES[n % 2]).status_code for n in range(3)]
    burst = together(4, lambda n: affine_chat(gateway, key, f"shared-burst-{n}", INSTANCES[n % 2]))
    assert first == [200] * 3
    assert Counter(answer.status_code for answer in burst) == {200: 1, 429: 3}
    assert provider.stats()["total"] == 4
    assert set(served_since(gateway, before, 4)) == set(INSTANCES)  # both instances served this key


def test_max_parallel_requests_is_shared_by_both_instances(runtime: Runtime, provider: FakeProvider) -> None:
    gateway, key = runtime.gateway, runtime.admin.generate(max_parallel_requests=1)
    answers = together(2, lambda n: affine_chat(gateway, key, f"lease-{n}", INSTANCES[n], "slow-stream",
                                                stream=True))
    assert sorted(answer.status_code for answer in answers) == [200, 429]
    assert provider.stats()["total"] == 1


def test_keys_windows_and_ledger_survive_a_restart(runtime: Runtime) -> None:
    admin = runtime.admin
    limited = admin.generate(rpm_limit=2, key_alias="survivor")
    assert [admin.chat(limited, f"survive-{n}").status_code for n in range(2)] == [200, 200]
    blocked = admin.generate(blocked=True)
    old = admin.generate()
    renewed = admin.call("POST", "/key/regenerate", json={"key": old}).json()["key"]
    admin.issued.append(renewed)
    admin.wait_booked(token_of(limited), 2)
    before = ([admin.info(key) for key in (limited, blocked, renewed)], admin.report()["data"],
              admin.call("GET", "/key/list", params={"size": 100}).json())

    runtime.restart()
    admin = runtime.admin
    after = ([admin.info(key) for key in (limited, blocked, renewed)], admin.report()["data"],
             admin.call("GET", "/key/list", params={"size": 100}).json())
    assert after == before
    refused = admin.chat(limited, "survive-3")  # its trailing-minute window came back too
    assert refused.status_code == 429 and refused.headers["x-ratelimit-remaining-requests"] == "0", refused.text
    assert admin.chat(blocked, "survive-blocked").json()["error"]["code"] == "key_blocked"
    assert admin.chat(old, "survive-old").json()["error"]["code"] == "invalid_api_key"
    assert admin.call("GET", "/key/info", params={"key": old}).status_code == 404


def test_only_hashes_are_at_rest(runtime: Runtime) -> None:
    files = [path for path in runtime.state_dir.rglob("*") if path.is_file()]
    databases = [path for path in files if path.suffix == ".sqlite"]
    assert len(databases) >= len(runtime.admin.issued)  # an object per key, the directory, the master's ledger
    dumped = b"".join(path.read_bytes() for path in files)  # the databases with their WAL files
    for path in databases:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                dumped += repr(db.execute(f'SELECT * FROM "{table}"').fetchall()).encode()
    for key in [*runtime.admin.issued, E2E_KEY]:
        assert key.encode() not in dumped
    assert all(token_of(key).encode() in dumped for key in runtime.admin.issued)  # we did read the keys


def test_no_key_in_any_log(runtime: Runtime) -> None:
    logs = "\n".join([*runtime.stopped_logs, runtime.gateway.log_text()])
    assert "/key/generate" in logs and "/v1/chat/completions" in logs  # the logs cover the traffic above
    for key in [*runtime.admin.issued, E2E_KEY]:
        assert key not in logs
