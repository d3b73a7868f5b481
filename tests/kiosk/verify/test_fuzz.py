"""Property-based fuzzing (hypothesis) of every parser and the verifier.

Properties: no exception escapes, every verdict is well formed, hostile input stays bounded
(size limits and the decompression cap are enforced before any large allocation), and
mutations of a valid signed code never turn into a PASS unless they are the original.
"""

from __future__ import annotations

import datetime as dt
import zlib

import base45
import cbor2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.verify.cccd import parse_cccd
from kiosk.verify.hc1 import decode_hc1
from kiosk.verify.identity import IdentityParseError
from kiosk.verify.messages import MESSAGES
from kiosk.verify.pccovid import parse_pccovid
from kiosk.verify.signed import StepFailure
from kiosk.verify.verdict import Outcome
from kiosk.verify.verifier import Verifier
from testkit.dcc import NOW, Hc1Spec, build_cose, build_hc1
from wire import passes

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
B45 = st.text(alphabet=base45.BASE45_CHARSET, max_size=400)
STEPS = {None, "prefix", "base45", "decompress", "cbor", "signature", "key_usage", "validity", "schema"}

cbor_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats()  # NaN, ±inf and fractions: HCERT times may be floats
    | st.binary(max_size=20)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.integers(-300, 10) | st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=12,
)


def _well_formed(verdict) -> None:
    assert verdict.outcome in Outcome
    assert verdict.reasons and all(isinstance(r, str) for r in verdict.reasons)
    assert verdict.failed_step in STEPS
    assert verdict.message_en and verdict.message_vi
    assert all(r in MESSAGES for r in verdict.reasons), verdict.reasons  # every code has a text


@FUZZ
@given(st.binary(max_size=600))
def test_identity_parsers_only_raise_their_error(data):
    for parse in (parse_cccd, parse_pccovid):
        try:
            result = parse(data)
        except IdentityParseError as exc:
            assert exc.reason in ("malformed_cccd", "malformed_pccovid", "payload_too_large")
        else:
            assert len(result.id_number or "") in (0, 12)


@FUZZ
@given(st.lists(st.text(max_size=15), min_size=5, max_size=12))
def test_pipe_separated_text_never_crashes_the_verifier(trust, fields):
    _well_formed(Verifier(trust).verify("|".join(fields).encode("utf-8", "surrogatepass"), NOW))


@FUZZ
@given(st.binary(max_size=3000))
def test_verifier_total_on_arbitrary_bytes(trust, data):
    _well_formed(Verifier(trust).verify(data, NOW))
    _well_formed(Verifier(trust).verify(b"HC1:" + data, NOW, clock_trusted=False))
    _well_formed(Verifier(trust).verify(b"VNP1:" + data, NOW))


@FUZZ
@given(B45)
def test_base45_alphabet_payloads(trust, text):
    for prefix in ("HC1:", "VNP1:"):
        _well_formed(Verifier(trust).verify((prefix + text).encode(), NOW))


@FUZZ
@given(cbor_values, st.booleans())
def test_arbitrary_cbor_inside_valid_framing(trust, value, tag):
    obj = cbor2.CBORTag(18, value) if tag else value
    cose = cbor2.dumps(obj)
    hc1 = "HC1:" + base45.b45encode(zlib.compress(cose)).decode()
    verdict = Verifier(trust).verify(hc1.encode(), NOW)
    _well_formed(verdict)
    assert verdict.outcome is Outcome.DENY
    _well_formed(Verifier(trust).verify(passes.to_text(cose).encode(), NOW))


@FUZZ
@given(st.data())
def test_byte_mutations_of_a_valid_hc1_never_pass(trust, signers, data):
    cose = build_cose(Hc1Spec(signer=signers["ES256"]["any"]))
    pos = data.draw(st.integers(0, len(cose) - 1))
    new = data.draw(st.integers(0, 255).filter(lambda b: b != cose[pos]))
    mutated = cose[:pos] + bytes([new]) + cose[pos + 1 :]
    hc1 = "HC1:" + base45.b45encode(zlib.compress(mutated)).decode()
    verdict = Verifier(trust).verify(hc1.encode(), NOW)
    _well_formed(verdict)
    assert verdict.outcome is not Outcome.PASS or _same_meaning(cose, mutated)


def _items(obj: object) -> object:
    """The COSE_Sign1 array, tagged or not (HCERT accepts both)."""
    return obj.value if isinstance(obj, cbor2.CBORTag) and obj.tag == 18 else obj


def _same_meaning(a: bytes, b: bytes) -> bool:
    """A mutation in the unsigned header (e.g. an unprotected map byte) may keep a valid code."""
    try:
        va, vb = cbor2.loads(a).value, _items(cbor2.loads(b))
    except (cbor2.CBORError, ValueError, AttributeError, TypeError):
        return False  # the verifier already returned PASS, so the mutant must decode; if not, fail
    return va[0] == vb[0] and va[2:] == vb[2:]


@FUZZ
@given(st.integers(1, 50))
def test_bombs_are_bounded(trust, megabytes):
    data = zlib.compress(b"A" * (megabytes * 1024 * 1024 // 8), 9)
    text = ("HC1:" + base45.b45encode(data).decode()).encode()
    verdict = Verifier(trust).verify(text, NOW)
    assert verdict.outcome is Outcome.DENY
    assert verdict.reasons[0] in ("decompress_bomb", "payload_too_large")


def test_decode_hc1_raises_only_step_failures(signers):
    good = build_hc1(Hc1Spec(signer=signers["PS256"]["any"])).encode()
    for cut in range(0, len(good), 7):
        try:
            decode_hc1(good[:cut])
        except StepFailure as exc:
            assert exc.step in STEPS


@FUZZ
@given(st.binary(max_size=800) | cbor_values.map(cbor2.dumps))
def test_cose_and_pass_decoders_raise_only_format_errors(data):
    from wire.cose import CoseFormatError, decode_sign1

    try:
        decode_sign1(data)
    except CoseFormatError as exc:
        assert exc.reason
    try:
        passes.decode_claims(data)
    except passes.PassFormatError as exc:
        assert exc.reason


_VI_NAME = (
    st.text(
        alphabet="aăâbcdđeêghiklmnoôơpqrstuưvxyàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ ",
        min_size=1,
        max_size=40,
    )
    .map(str.strip)
    .filter(bool)
)


@FUZZ
@given(
    st.from_regex(r"[0-9]{12}", fullmatch=True),
    st.sampled_from(["", "123456789", "023456789012"]),
    _VI_NAME,
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2020, 12, 31)),
    st.sampled_from(["Nam", "Nữ"]),
    st.integers(0, 4),
)
def test_valid_cccd_round_trips(id_number, old, name, dob, sex, extras):
    raw = "|".join(
        [id_number, old, name, dob.strftime("%d%m%Y"), sex, "Thôn 1, Xã A", "01012021", *[""] * extras]
    )
    parsed = parse_cccd(raw.encode())
    assert (parsed.id_number, parsed.old_id, parsed.name, parsed.dob, parsed.sex) == (
        id_number,
        old or None,
        name,
        dob.isoformat(),
        sex,
    )
    assert len(parsed.extras) == extras


def test_memory_stays_bounded_on_hostile_input(trust):
    import tracemalloc

    bomb = ("HC1:" + base45.b45encode(zlib.compress(b"\x00" * 5_000_000, 9)).decode()).encode()
    nested = ("HC1:" + base45.b45encode(zlib.compress(b"\x81" * 60_000)).decode()).encode()
    verifier = Verifier(trust)
    tracemalloc.start()
    try:
        for raw in (bomb, nested, b"VNP1:" + b"0" * 9000, b"|" * 9000):
            _well_formed(verifier.verify(raw, NOW))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024, peak  # the 5 MB bomb never materialises


@FUZZ
@given(st.dictionaries(st.sampled_from([1, 4, 6, -260, 7]), cbor_values, max_size=5))
def test_claims_decoder_raises_only_format_errors(claims):
    from wire.cose import CoseFormatError, decode_claims

    try:
        decoded = decode_claims(cbor2.dumps(claims))
    except CoseFormatError as exc:
        assert exc.reason in ("cwt_time_claim", "cwt_issuer", "cwt_not_map")
    else:
        assert type(decoded[6]) is int and type(decoded[4]) is int
