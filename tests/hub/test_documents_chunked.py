"""Trust lists and health rules travel as a signed retained head and signed chunks, like the flag list:
a 3 MB trust list reaches kiosks whole, and a fetch interrupted by a restart resumes where it stopped."""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.db import Database
from hub.documents import set_document
from hub.flag_publisher import FlagPublisher
from hub.trust import TRUST_DOC
from kiosk.docsync import DocSync
from kiosk.mqtt.link import KioskLink
from kiosk.store import KioskStore
from kiosk.verify.flags import DEFAULT_KEY
from testkit.linkrig import fast_link_config, wait_for
from testkit.services import MosquittoBroker
from wire import docchunks
from wire.envelope import Signed, key_id, open_envelope, seal
from wire.errors import WireError

HUB = Ed25519PrivateKey.generate()
TRUSTED = {key_id(HUB.public_key()): HUB.public_key()}
NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)


def big_trust_list(n_bytes: int) -> dict:
    keys = [{"kind": "public_key", "der": secrets.token_hex(150)} for _ in range(n_bytes // 330)]
    return {"keys": keys}


def test_a_3mb_trust_list_reaches_every_kiosk_whole_in_chunks(
    db: Database, broker: MosquittoBroker, tmp_path: Path
) -> None:
    body = big_trust_list(3_000_000)
    version = set_document(db, TRUST_DOC, body, actor="op", now=NOW, action="trust.set", detail={})
    publisher = FlagPublisher(db, HUB, DEFAULT_KEY, broker.host, broker.port).start()
    links: list[KioskLink] = []
    got: dict[str, list[Signed]] = {}
    try:
        assert publisher.connected.wait(10)
        for name in ("kiosk-1", "kiosk-2"):
            got[name] = []
            links.append(
                KioskLink(
                    fast_link_config(broker.port),
                    name,
                    KioskStore(tmp_path / f"{name}.db"),
                    hub_keys=[HUB.public_key()],
                    on_update=got[name].append,
                ).start()
            )
        for name, updates in got.items():
            wait_for(lambda u=updates: any(x.type == "trust" for x in u), 30, f"the trust list at {name}")
            trust = next(x for x in updates if x.type == "trust")
            assert trust.version == version and trust.payload == body
        assert all(link.store.applied_version("trust") == version for link in links)
        assert len(docchunks.split("trust", body)[1]) > 4  # it did travel in several chunks
    finally:
        for link in links:
            link.stop()
        publisher.stop()


def sealed(type_: str, version: int, payload: dict) -> Signed:
    return open_envelope(seal(HUB, type_, version, payload, NOW), TRUSTED)


def test_a_fetch_interrupted_by_a_restart_resumes_with_the_missing_chunks_only(tmp_path: Path) -> None:
    body = big_trust_list(2_000_000)
    head, chunks = docchunks.split("trust", body)
    store = KioskStore(tmp_path / "k.db")
    docs = DocSync(store)
    assert docs.handle(sealed("doc.head", 7, head)) is None
    for c in chunks[:2]:
        assert docs.handle(sealed("doc.chunk", 7, c)) is None
    store.close()

    docs = DocSync(KioskStore(tmp_path / "k.db"))  # restarted: the retained head comes again
    assert docs.handle(sealed("doc.head", 7, head)) is None
    assert docs.wanted() == {"trust": list(range(2, len(chunks)))[:8]}
    with pytest.raises(WireError, match="not being fetched"):
        docs.handle(sealed("doc.chunk", 6, chunks[2]))  # a chunk of another version is not mixed in
    whole = None
    for c in chunks[2:]:
        whole = docs.handle(sealed("doc.chunk", 7, c))
    assert whole is not None and whole.type == "trust" and whole.version == 7 and whole.payload == body


def test_chunks_that_do_not_add_up_to_the_head_are_refused(tmp_path: Path) -> None:
    head, chunks = docchunks.split("trust", {"keys": [{"kind": "public_key", "der": "00" * 10}]})
    docs = DocSync(KioskStore(tmp_path / "k.db"))
    docs.handle(sealed("doc.head", 3, head))
    forged = {**chunks[0], "data": docchunks.split("trust", {"keys": []})[1][0]["data"]}
    with pytest.raises(WireError, match="do not match its sha256"):
        docs.handle(sealed("doc.chunk", 3, forged))
