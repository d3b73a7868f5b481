"""Any signed versioned document (trust list, health rules) as a retained head plus signed chunks.

Why: a trust list can reach 4 MB, a single envelope is capped at 8 MiB, and a kiosk on a weak link that
drops mid-transfer must not start again from zero. The same path as the flag list (wire/flagsync.py):
a small retained head says which version exists and how to check it; the kiosk asks for the chunks it
lacks in its status and the hub answers on that kiosk's own topic from a cache.

    doc.head   {"name": "trust", "type": "trust", "count": n, "bytes": b, "sha256": "<hex of the body>"}
    doc.chunk  {"name": "trust", "index": i, "count": n, "sha256": "<hex of the body>", "data": "<b64>"}

Both carry the document's version as the envelope version; the body is the document's payload as
canonical JSON. Every chunk is signed and names the whole body's SHA-256, so a chunk of another version
or another document cannot be mixed in, and the reassembled body is checked before it is applied.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from wire.envelope import Signed
from wire.errors import WireError

CHUNK_BYTES = 512 * 1024  # of body per chunk: ~700 kB signed, far below the 8 MiB envelope limit
MAX_CHUNKS = 64  # 32 MB of document at most
DOC_TYPES = {"trust": "trust", "rules": "rules"}  # document name -> the envelope type it stands for


@dataclass(frozen=True)
class DocHead:
    name: str
    type: str
    version: int
    count: int
    sha256: str


@dataclass(frozen=True)
class DocChunk:
    name: str
    version: int
    index: int
    count: int
    sha256: str
    data: bytes


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def split(name: str, payload: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(head payload, chunk payloads) of one document version."""
    if name not in DOC_TYPES:
        raise ValueError(f"unknown document {name!r}")
    body = body_of(payload)
    pieces = [body[i : i + CHUNK_BYTES] for i in range(0, len(body), CHUNK_BYTES)] or [b""]
    if len(pieces) > MAX_CHUNKS:
        raise ValueError(f"document {name} of {len(body)} bytes exceeds {MAX_CHUNKS} chunks")
    digest = hashlib.sha256(body).hexdigest()
    head = {"name": name, "type": DOC_TYPES[name], "count": len(pieces), "bytes": len(body), "sha256": digest}
    chunks = [
        {
            "name": name,
            "index": i,
            "count": len(pieces),
            "sha256": digest,
            "data": base64.b64encode(p).decode(),
        }
        for i, p in enumerate(pieces)
    ]
    return head, chunks


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_CHUNKS:
        raise WireError(f"a document has 1..{MAX_CHUNKS} chunks")
    return value


def _name_and_sha(p: dict[str, Any]) -> tuple[str, str]:
    name, sha = p.get("name"), p.get("sha256")
    if name not in DOC_TYPES:
        raise WireError(f"unknown document {name!r}")
    if not isinstance(sha, str) or len(sha) != 64:
        raise WireError("a document's sha256 is 64 hex digits")
    return name, sha


def decode_head(update: Signed) -> DocHead:
    if update.type != "doc.head":
        raise WireError(f"expected doc.head, got {update.type}")
    name, sha = _name_and_sha(update.payload)
    if update.payload.get("type") != DOC_TYPES[name]:
        raise WireError(f"document {name} stands for {DOC_TYPES[name]}")
    return DocHead(name, DOC_TYPES[name], update.version, _count(update.payload.get("count")), sha)


def decode_chunk(update: Signed) -> DocChunk:
    if update.type != "doc.chunk":
        raise WireError(f"expected doc.chunk, got {update.type}")
    p = update.payload
    name, sha = _name_and_sha(p)
    count, index = _count(p.get("count")), p.get("index")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count:
        raise WireError("a chunk's index is 0..count-1")
    try:
        data = base64.b64decode(p.get("data", ""), validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise WireError("a chunk's data is base64") from None
    if len(data) > CHUNK_BYTES:
        raise WireError("a chunk is too large")
    return DocChunk(name, update.version, index, count, sha, data)


def assemble(head: DocHead, pieces: list[bytes], kid: str, issued_at: str = "") -> Signed:
    """The document itself from all its chunks, as if it had come in one envelope; raises WireError if
    the body does not match the head's SHA-256."""
    body = b"".join(pieces)
    if hashlib.sha256(body).hexdigest() != head.sha256:
        raise WireError(f"document {head.name} version {head.version}: chunks do not match its sha256")
    try:
        payload = json.loads(body)
    except ValueError:
        raise WireError(f"document {head.name} is not JSON") from None
    if not isinstance(payload, dict):
        raise WireError(f"document {head.name} is not an object")
    return Signed(head.type, head.version, issued_at, payload, kid)
