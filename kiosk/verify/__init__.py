"""Offline verification: raw QR bytes -> Verdict (PASS / DENY / REVIEW with reasons).

Entry point: `Verifier(trust, flags, policy).verify(raw, now, clock_trusted, floor=, hub_now=) -> Verdict`
(verifier.py). Pure: no I/O, no clock reads; `now`, `clock_trusted` and the proven times `floor` and
`hub_now` (timecontext.py) come from the caller.

Rooms:
    cccd.py, pccovid.py      unsigned identity codes (identity.py: shared text/date helpers)
    hc1.py                   EU DCC decoding steps (prefix, Base45, zlib, COSE/CWT)
    dcc_schema.py            the DCC payload against the official EU schema of its `ver`
    checkpoint_pass.py       our `VNP1:` pass decoding (format: wire/passes.py)
    signed.py                steps shared by HC1 and passes: signature, signer-at-iat, window
    (common/trust.py)        kid -> trusted keys (files, directories, hub trust list); the hub shares it
    flags.py                 person flags by keyed hash (numpy, 1M entries), revocations, deltas
    timecontext.py           the time as the verifier sees it: reading, trust, proven floor, hub time
    policy.py                PolicyConfig (pydantic, the `[policy]` config section)
    messages.py              reason code -> Vietnamese / English text
    verdict.py               Verdict, Outcome, PayloadKind, Subject

Failed steps (Verdict.failed_step): prefix, base45, decompress, cbor, signature, key_usage,
validity, schema, decode_image. Reason codes: the keys of messages.MESSAGES.
"""
