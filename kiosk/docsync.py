"""Signed documents (trust list, health rules) fetched as chunks: resumable, stored until applied.

The hub publishes a retained `doc.head` per document (wire/docchunks.py); a kiosk whose applied version
is older asks in its status for the chunks it lacks (`docs_wanted`, a few at a time), and keeps each
verified chunk in SQLite, so a dropped link or a restart resumes where it stopped. When every chunk is
there and the body matches the head's SHA-256, the document is handed back to the link, which applies
it exactly as if it had come in one envelope (version check, apply, version stored), then `done()`
drops the chunks.
"""

from __future__ import annotations

import logging
import sqlite3

from kiosk.store import KioskStore
from wire import docchunks
from wire.envelope import Signed
from wire.errors import WireError

log = logging.getLogger(__name__)

DOC_TYPES = ("doc.head", "doc.chunk")
MAX_REQUEST = 8  # chunks asked for at once per document (~4 MB)


class DocSync:
    def __init__(self, store: KioskStore) -> None:
        self.store = store
        self.heads: dict[str, docchunks.DocHead] = {}
        self.repeated = 0  # heads of a version already applied (the retained head, on every reconnect)
        with store.transaction() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS doc_chunks (name TEXT NOT NULL, version INTEGER NOT NULL,"
                " idx INTEGER NOT NULL, sha256 TEXT NOT NULL, data BLOB NOT NULL,"
                " PRIMARY KEY (name, version, idx))"
            )

    def handle(self, update: Signed) -> Signed | None:
        """A verified doc.head or doc.chunk; returns the whole document once it is complete. A disk that
        refuses the write refuses the update (WireError): the chunk is asked for again."""
        try:
            return self._handle(update)
        except sqlite3.Error as exc:
            raise WireError(f"document store refused {update.type}: {exc}") from None

    def _handle(self, update: Signed) -> Signed | None:
        if update.type == "doc.head":
            head = docchunks.decode_head(update)
            if head.version <= (self.store.applied_version(head.type) or 0):
                self.heads.pop(head.name, None)
                self.repeated += 1
                return None  # already applied (a retained head delivered again)
            self.heads[head.name] = head
            with self.store.transaction() as conn:
                conn.execute(
                    "DELETE FROM doc_chunks WHERE name = ? AND (version != ? OR sha256 != ?)",
                    [head.name, head.version, head.sha256],
                )
            return self._complete(head, update.kid)
        if update.type == "doc.chunk":
            chunk = docchunks.decode_chunk(update)
            fetching = self.heads.get(chunk.name)
            if fetching is None or (chunk.version, chunk.count, chunk.sha256) != (
                fetching.version,
                fetching.count,
                fetching.sha256,
            ):
                raise WireError(
                    f"a chunk of {chunk.name} version {chunk.version}, which is not being fetched"
                )
            with self.store.transaction() as conn:
                conn.execute(
                    "INSERT OR REPLACE INTO doc_chunks(name, version, idx, sha256, data)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [chunk.name, chunk.version, chunk.index, chunk.sha256, chunk.data],
                )
            return self._complete(fetching, update.kid)
        raise WireError(f"not a document update: {update.type}")

    def _have(self, head: docchunks.DocHead) -> dict[int, bytes]:
        with self.store.transaction() as conn:
            rows = conn.execute(
                "SELECT idx, data FROM doc_chunks WHERE name = ? AND version = ? AND sha256 = ?",
                [head.name, head.version, head.sha256],
            ).fetchall()
        return {int(i): bytes(d) for i, d in rows}

    def _complete(self, head: docchunks.DocHead, kid: str) -> Signed | None:
        have = self._have(head)
        if len(have) < head.count:
            return None
        return docchunks.assemble(head, [have[i] for i in range(head.count)], kid)

    def done(self, name: str) -> None:
        """The document was applied (or refused for good): its chunks are no longer needed."""
        self.heads.pop(name, None)
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM doc_chunks WHERE name = ?", [name])

    def wanted(self) -> dict[str, list[int]]:
        out = {}
        for name, head in self.heads.items():
            with self.store.transaction() as conn:
                have = {
                    int(r[0])
                    for r in conn.execute(
                        "SELECT idx FROM doc_chunks WHERE name = ? AND version = ? AND sha256 = ?",
                        [name, head.version, head.sha256],
                    )
                }
            missing = [i for i in range(head.count) if i not in have]
            if missing:
                out[name] = missing[:MAX_REQUEST]
        return out
