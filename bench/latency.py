"""A TCP relay that delays every chunk by a fixed time each way: the database "on another machine".

A hub that outgrows one machine talks to PostgreSQL over a LAN, where every round trip costs a
millisecond or so; on one test machine the loopback costs microseconds. Putting this relay between the
hub's workers and the database shows what several workers do where a worker mostly waits for the
database instead of computing. Order within a connection is kept; chunks are not merged or split.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any


class LatencyProxy:
    def __init__(self, target_port: int, delay_s: float, host: str = "127.0.0.1") -> None:
        self.target_port, self.delay_s, self.host = target_port, delay_s, host
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="latency-proxy", daemon=True)

    def start(self) -> LatencyProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("latency proxy did not start")
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, self.host, 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, chunk = await queue.get()
                if not chunk:
                    break
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(chunk)
                await writer.drain()
            writer.close()

        sender = asyncio.ensure_future(deliver())
        try:
            while chunk := await reader.read(65536):
                queue.put_nowait((time.monotonic() + self.delay_s, chunk))
        except (ConnectionError, OSError):
            pass
        queue.put_nowait((0.0, b""))
        await sender


def serve_in_process(target_port: int, delay_s: float, port_out: Any, stop: Any) -> None:
    """Entry point of a separate process: the relay must not share a GIL with the load it measures."""
    proxy = LatencyProxy(target_port, delay_s).start()
    port_out.put(proxy.port)
    stop.wait()
    proxy.stop()
