"""Verification throughput and flag-store cost.

Run: `.venv/bin/python bench/verify.py`. Measures verifications per second and p99 latency per
payload kind (HC1 ES256 and PS256, HC1 with the shipped health rules on, our pass Ed25519 and
ES256, CCCD), then builds a flag store of one million person flags and reports µs per lookup and
the resident memory it added. `rules_us` is what the rules add per certificate: the time per HC1
verification with the rules of examples/rules/vietnam-2021.json minus the time without, same run.
Last line (machine-readable):
    verify: hc1_per_s=... hc1_rules_per_s=... rules_us=... pass_per_s=... cccd_per_s=... flag_lookup_us=...
    flags_rss_mb=...
"""

from __future__ import annotations

import datetime as dt
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from common.healthrules import RuleSet
from common.trust import TrustStore, key_from_certificate, key_from_public_key
from kiosk.verify.flags import FlagStore
from kiosk.verify.verdict import Outcome
from kiosk.verify.verifier import Verifier
from provisioning.issuer import create_issuer_key, mint_pass
from testkit.dcc import NOW, Hc1Spec, build_hc1, dcc_payload, make_signer
from wire.cose import ALG_ES256, ALG_PS256

BUDGET_S = 2.0  # per kind
SHIPPED_RULES = Path(__file__).resolve().parent.parent / "examples" / "rules" / "vietnam-2021.json"


def rss_mb() -> float:
    """Resident set size from /proc (no psutil on the kiosk)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(verifier: Verifier, raw: bytes) -> tuple[float, float]:
    """(verifications per second, p99 µs) over ~BUDGET_S seconds."""
    assert verifier.verify(raw, NOW).outcome is Outcome.PASS or b"|" in raw
    samples = []
    end = time.perf_counter() + BUDGET_S
    while time.perf_counter() < end:
        t0 = time.perf_counter_ns()
        verifier.verify(raw, NOW)
        samples.append(time.perf_counter_ns() - t0)
    arr = np.array(samples) / 1000
    return 1e6 / arr.mean(), float(np.percentile(arr, 99))


def main() -> None:
    es, ps = make_signer(ALG_ES256), make_signer(ALG_PS256)
    ed_issuer, es_issuer = create_issuer_key("VN-HN", "Ed25519"), create_issuer_key("VN-HN", "ES256")
    trust = TrustStore(
        [key_from_certificate(es.cert), key_from_certificate(ps.cert)]
        + [key_from_public_key(k.public_key) for k in (ed_issuer, es_issuer)]
    )
    verifier = Verifier(trust)
    common = {"id_number": "001099012345", "name": "Nguyễn Văn An", "dob": "1999-01-01"}
    window = {"valid_from": NOW - dt.timedelta(days=1), "valid_until": NOW + dt.timedelta(days=7)}
    payloads = {
        "hc1_es256": build_hc1(Hc1Spec(signer=es)).encode(),
        "hc1_ps256": build_hc1(Hc1Spec(signer=ps)).encode(),
        "pass_ed25519": mint_pass(ed_issuer, **common, **window).encode(),
        "pass_es256": mint_pass(es_issuer, **common, **window).encode(),
        "cccd": "001099012345|123456789|Nguyễn Văn An|01011999|Nam|Thôn 1, Xã A|15082021".encode(),
    }
    recent = dcc_payload("v")
    recent["v"][0]["dt"] = (NOW - dt.timedelta(days=60)).date().isoformat()  # passes every shipped rule
    with_rules = Verifier(trust, rules=RuleSet.from_paths([SHIPPED_RULES]))
    runs = {name: (verifier, raw) for name, raw in payloads.items()}
    runs["hc1_es256_rules"] = (with_rules, build_hc1(Hc1Spec(signer=es, dcc=recent)).encode())
    runs["hc1_es256_same"] = (
        verifier,
        runs["hc1_es256_rules"][1],
    )  # the baseline: same certificate, no rules
    rates = {}
    for name, (which, raw) in runs.items():
        rate, p99 = measure(which, raw)
        rates[name] = rate
        print(f"{name:16s} {rate:9.0f} verify/s   p99 {p99:8.1f} µs   ({len(raw)} chars)")
    rules_us = (1 / rates["hc1_es256_rules"] - 1 / rates["hc1_es256_same"]) * 1e6
    print(f"rules: {len(with_rules.rules)} rules, +{rules_us:.1f} µs per certificate "
          f"(ratio {rates['hc1_es256_same'] / rates['hc1_es256_rules']:.2f} against no rules)")  # fmt: skip

    # one million flags
    gc.collect()
    before = rss_mb()
    n = 1_000_000
    rng = np.random.default_rng(1)
    store = FlagStore(version=1)
    ids = [f"{i:012d}" for i in rng.integers(0, 10**12, size=1000)]
    known = np.array([store.hash_id(i) for i in ids[:500]], dtype=np.uint64)
    hashes = np.concatenate([rng.integers(0, 2**63, size=n - known.size, dtype=np.uint64), known])
    store.load_arrays(
        hashes,
        rng.integers(1, 4, size=n, dtype=np.uint8),
        np.full(n, int((NOW - dt.timedelta(days=3)).timestamp()), dtype=np.int64),
        np.full(n, np.iinfo(np.int64).max, dtype=np.int64),
    )
    del hashes, known  # only the store's own arrays should count
    gc.collect()
    flags_mb = rss_mb() - before
    hits = sum(store.person(i, NOW) is not None for i in ids)
    rounds = 100
    t0 = time.perf_counter()
    for _ in range(rounds):
        for i in ids:
            store.person(i, NOW)
    lookup_us = (time.perf_counter() - t0) / (rounds * len(ids)) * 1e6
    print(
        f"flags: {len(store)} entries, arrays {store.nbytes() / 2**20:.1f} MiB, rss +{flags_mb:.1f} MiB, "
        f"lookup {lookup_us:.2f} µs (hash+search), {hits}/{len(ids)} hits"
    )
    print(
        f"verify: hc1_per_s={rates['hc1_es256']:.0f} hc1_rules_per_s={rates['hc1_es256_rules']:.0f} "
        f"rules_us={rules_us:.1f} pass_per_s={rates['pass_ed25519']:.0f} "
        f"cccd_per_s={rates['cccd']:.0f} flag_lookup_us={lookup_us:.2f} flags_rss_mb={flags_mb:.1f}"
    )


if __name__ == "__main__":
    main()
