"""The SQLite turn lock (api.service.context.Turn): one holder at a time across event loops,
and a waiter cancelled while it waits leaves nothing taken."""

from __future__ import annotations

import asyncio
import contextlib
import threading

from api.service.context import Turn


def test_a_cancelled_waiter_leaves_the_turn_free() -> None:
    turn = Turn()
    held, let_go = threading.Event(), threading.Event()

    def other_loop() -> None:  # a request of another event loop holds the turn
        async def hold() -> None:
            await turn.acquire()
            held.set()
            while not let_go.is_set():
                await asyncio.sleep(0.01)
            turn.release()

        asyncio.run(hold())

    holder = threading.Thread(target=other_loop)
    holder.start()
    held.wait(timeout=10)

    async def wait_then_cancel() -> bool:
        waiting = asyncio.create_task(turn.acquire())
        await asyncio.sleep(0.1)
        assert not waiting.done()  # the turn is taken: it waits
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        let_go.set()
        await asyncio.to_thread(holder.join, 10)
        await asyncio.wait_for(turn.acquire(), timeout=2)  # free again: nothing leaked
        turn.release()
        return True

    assert asyncio.run(wait_then_cancel())
