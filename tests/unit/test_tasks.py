"""tasks.background on CPython (the unit tests' 3.11 schedules; Pyodide's 3.13 starts eagerly: test_in_pyodide)."""

import asyncio
import gc

import tasks


def test_a_pending_task_is_held_until_it_ends_and_then_let_go() -> None:
    ran: list[str] = []

    async def work() -> None:
        await asyncio.sleep(0)
        ran.append("done")

    async def main() -> None:
        tasks.background(work())
        gc.collect()  # only the module's reference keeps it alive
        assert len(tasks._background) == 1
        for _ in range(5):
            await asyncio.sleep(0)
        assert ran == ["done"]
        assert not tasks._background

    asyncio.run(main())


def test_a_failure_stays_in_its_task_and_is_let_go() -> None:
    async def fails() -> None:
        raise ValueError("boom")

    async def main() -> None:
        tasks.background(fails())
        for _ in range(3):
            await asyncio.sleep(0)
        assert not tasks._background

    asyncio.run(main())
