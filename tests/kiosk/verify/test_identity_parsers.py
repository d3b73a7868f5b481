"""CCCD and PC-Covid parsers: the formats.md samples, 11-field cards, mojibake, strict failures."""

from __future__ import annotations

import json

import pytest

from kiosk.officer import OfficerInputError, manual_declaration
from kiosk.record import _wire_subject
from kiosk.verify.cccd import parse_cccd
from kiosk.verify.flags import FlagFileError, FlagStore, load_flag_file
from kiosk.verify.identity import IdentityParseError
from kiosk.verify.pccovid import parse_pccovid
from kiosk.verify.policy import PolicyConfig
from kiosk.verify.verdict import Outcome
from kiosk.verify.verifier import Verifier
from testkit.dcc import NOW

SAMPLES = [
    "001099012345|123456789|Nguyễn Văn An|01011999|Nam|Thôn 1, Xã A, Huyện B, Tỉnh C|15082021",
    "001199012345||Trần Thị Bình|02021999|Nữ|Số 1 Phố X, Phường Y, Quận Z, Hà Nội|20032022",
    "079084012345|023456789|Lê Văn Cường|03031984|Nam|Tổ 2, Phường D, Thành phố E, Tỉnh F|23092024||||",
]


def test_formats_md_samples():
    a, b, c = (parse_cccd(s.encode()) for s in SAMPLES)
    assert (a.id_number, a.old_id, a.name, a.dob, a.sex, a.issue_date) == (
        "001099012345",
        "123456789",
        "Nguyễn Văn An",
        "1999-01-01",
        "Nam",
        "2021-08-15",
    )
    assert b.old_id is None and b.sex == "Nữ" and b.name == "Trần Thị Bình"
    assert c.extras == ("", "", "", "") and c.dob == "1984-03-03"


@pytest.mark.parametrize("codec", ["latin-1", "cp1252"])
def test_mojibake_is_repaired(codec):
    garbled = SAMPLES[0].encode("utf-8").decode(codec, errors="strict")
    assert "Nguyễn" not in garbled
    # what some encoders emit: the UTF-8 bytes re-encoded as if each were a Latin-1/CP1252 character
    parsed = parse_cccd(garbled.encode("utf-8"))
    assert parsed.name == "Nguyễn Văn An" and parsed.address.startswith("Thôn 1, Xã A")


@pytest.mark.parametrize(
    "bad",
    [
        "00109901234|123456789|A|01011999|Nam|X|15082021",  # 11-digit id
        "001099012345|123456789|A|31021999|Nam|X|15082021",  # 31 February
        "001099012345|12345|A|01011999|Nam|X|15082021",  # old id neither 9 nor 12 digits
        "001099012345|123456789|A|01011999|Male|X|15082021",  # sex
        "001099012345|123456789||01011999|Nam|X|15082021",  # empty name
        "001099012345|123456789|A|01011999|Nam|X|15082021|1|2|3|4|5",  # 12 fields
        "001099012345|123456789|A|01012030|Nam|X|15082021",  # issued before birth
        "٠٠١٠٩٩٠١٢٣٤٥|123456789|A|01011999|Nam|X|15082021",  # non-ASCII digits
    ],
)
def test_cccd_strict_failures(bad):
    with pytest.raises(IdentityParseError) as err:
        parse_cccd(bad.encode())
    assert err.value.reason == "malformed_cccd"


def test_pccovid_masked_and_clear():
    clear = parse_pccovid(
        b"001099012345|NGUYEN VAN AN|1999-01-01|1|123456789012345678|123<1<DN123<0901234567<"
    )
    assert clear.id_number == "001099012345" and clear.declared_by_other and not clear.masked
    masked = parse_pccovid(b"******012345|NGUYEN VAN AN|****-**-**|0|123456789012345678|")
    assert masked.id_number is None and masked.masked and masked.dob == "****-**-**"


@pytest.mark.parametrize(
    "bad",
    [
        b"001099012345|Nguyen Van An|1999-01-01|0|123456789012345678|",  # lower case name
        b"001099012345|NGUYEN VAN AN|1999-02-30|0|123456789012345678|",  # not a date
        b"001099012345|NGUYEN VAN AN|1999-01-01|0|12345|",  # QID
        b"0010990*2345|NGUYEN VAN AN|1999-01-01|0|123456789012345678|",  # mask beyond 6 chars
    ],
)
def test_pccovid_strict_failures(bad):
    with pytest.raises(IdentityParseError):
        parse_pccovid(bad)


HOSTILE_NAMES = [
    "\x1b[K\x1b[ANguyễn Văn An",  # erase the line, cursor up: rewrites an operator's terminal
    "Nguyễn\x9b2J Văn An",  # a one-byte C1 CSI
    "Nguyễn Văn \u202enA",  # right-to-left override
    "Nguyễn \u2066Văn\u2069 An",  # left-to-right isolate
    "Nguyễn\u200bVăn An",  # zero-width space
    "Nguyễn\u2028Văn An",  # line separator
    "Nguyễn\rVăn An",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_control_and_bidi_characters_in_a_cccd_are_refused(name):
    with pytest.raises(IdentityParseError) as err:
        parse_cccd(SAMPLES[0].replace("Nguyễn Văn An", name).encode())
    assert err.value.reason == "control_characters" and "field 3" in str(err.value)
    address = SAMPLES[0].replace("Thôn 1", "Thôn\u202e 1")
    with pytest.raises(IdentityParseError, match="control_characters"):
        parse_cccd(address.encode())


def test_control_characters_in_a_pccovid_code_are_refused():
    with pytest.raises(IdentityParseError) as err:
        parse_pccovid(b"001099012345|NGUYEN VAN AN|1999-01-01|1|123456789012345678|123<\x1b[2J<")
    assert err.value.reason == "control_characters"


def test_a_cccd_with_an_escape_code_name_is_denied_with_its_reason(trust):
    verdict = Verifier(trust).verify(SAMPLES[0].replace("Nguyễn", "\x1b[K\x1b[A").encode(), NOW)
    assert verdict.outcome is Outcome.DENY and verdict.reasons == ("control_characters",)
    assert verdict.subject is None  # nothing of it is recorded
    assert Verifier(trust).verify(SAMPLES[0].encode(), NOW).subject.name == "Nguyễn Văn An"


FULL_WIDTH_ID = "\uff10" * 11 + "\uff11"  # str.isdigit() says yes; the id hash (ASCII) raised on it


def test_an_officer_cannot_type_a_full_width_id_or_a_control_character_name():
    form = {
        "officer_id": "officer-1",
        "id_number": FULL_WIDTH_ID,
        "name": "Nguyễn Văn An",
        "dob": "1990-01-01",
    }
    with pytest.raises(OfficerInputError, match="12-digit"):
        manual_declaration(FlagStore(), PolicyConfig(), form, NOW)
    form = {**form, "id_number": "001099012345", "name": "Nguyễn \u202eVăn An"}
    with pytest.raises(OfficerInputError, match="control"):
        manual_declaration(FlagStore(), PolicyConfig(), form, NOW)
    _, verdict = manual_declaration(FlagStore(), PolicyConfig(), {**form, "name": "Nguyễn Văn An"}, NOW)
    assert verdict.subject.name == "Nguyễn Văn An"


def test_a_flag_file_with_a_full_width_id_is_a_clear_error(tmp_path):
    path = tmp_path / "flags.json"
    path.write_text(
        json.dumps({"persons": [{"id": FULL_WIDTH_ID, "status": "F0", "start": "2026-01-01T00:00:00Z"}]})
    )
    with pytest.raises(FlagFileError, match="12-digit"):
        load_flag_file(path)


def test_a_recorded_subject_keeps_only_an_ascii_id():
    subject = _wire_subject({"id_number": FULL_WIDTH_ID, "name": "A", "dob": None})
    assert subject == {"id_number": None, "name": "A", "dob": None}
