"""Session-scoped synthetic PKI: key generation (RSA especially) is too slow to repeat per test."""

from __future__ import annotations

import datetime as dt

import pytest

from common.trust import TrustStore, key_from_certificate, key_from_public_key
from provisioning.issuer import create_issuer_key
from testkit.dcc import NOW, T0, make_signer
from wire.cose import ALG_ES256, ALG_PS256


@pytest.fixture(scope="session")
def signers():
    """Per alg: an unrestricted DSC, a vaccination-only DSC, and one expired before NOW-30d."""
    out = {}
    for name, alg in (("ES256", ALG_ES256), ("PS256", ALG_PS256)):
        out[name] = {
            "any": make_signer(alg),
            "v_only": make_signer(alg, types="v"),
            "old": make_signer(
                alg, not_before=T0 - dt.timedelta(days=800), not_after=NOW - dt.timedelta(days=30)
            ),
            "untrusted": make_signer(alg),
        }
    return out


@pytest.fixture(scope="session")
def issuers():
    return {"Ed25519": create_issuer_key("VN-HN", "Ed25519"), "ES256": create_issuer_key("VN-HN", "ES256")}


@pytest.fixture(scope="session")
def trust(signers, issuers) -> TrustStore:
    store = TrustStore()
    for per_alg in signers.values():
        for role in ("any", "v_only", "old"):
            store.add(key_from_certificate(per_alg[role].cert, role))
    for issuer in issuers.values():
        store.add(key_from_public_key(issuer.public_key, "issuer"))
    return store
