"""Reason codes and their Vietnamese / English messages: the one table every verdict explains from.

Codes are the stable machine-readable part (they go on the wire in passage events); the texts
are for the screen and may be reworded freely.
"""

from __future__ import annotations

from collections.abc import Iterable

# code: (Vietnamese, English)
MESSAGES: dict[str, tuple[str, str]] = {
    # success
    "valid_hc1": ("Chứng nhận COVID hợp lệ", "Valid EU digital COVID certificate"),
    "valid_pass": ("Thẻ thông hành hợp lệ", "Valid checkpoint pass"),
    "identity_only": ("Chỉ có thông tin định danh, không có chữ ký", "Identity code only, not signed"),
    "id_masked": ("Số giấy tờ bị che, không kiểm tra được cờ", "Document number masked: flags not checkable"),
    # structure
    "payload_too_large": ("Mã QR quá lớn", "QR payload too large"),
    "unknown_payload": ("Mã QR không được hỗ trợ", "Unrecognised QR code"),
    "kind_not_accepted": (
        "Loại mã này không được chấp nhận tại đây",
        "This kind of code is not accepted here",
    ),
    "decode_image_failed": ("Không đọc được mã QR trong ảnh", "No QR code could be read from the image"),
    "malformed_cccd": ("Mã CCCD không hợp lệ", "Malformed citizen ID (CCCD) code"),
    "malformed_pccovid": ("Mã PC-Covid không hợp lệ", "Malformed PC-Covid code"),
    "control_characters": (
        "Mã chứa ký tự điều khiển hoặc ký tự đảo chiều văn bản",
        "The code contains control or text-direction characters",
    ),
    "prefix_invalid": ("Tiền tố mã không hợp lệ", "Invalid prefix"),
    "base45_invalid": ("Mã hoá Base45 không hợp lệ", "Invalid Base45 encoding"),
    "decompress_failed": ("Giải nén thất bại", "Decompression failed"),
    "decompress_missing": ("Dữ liệu không được nén", "Payload is not compressed"),
    "decompress_bomb": ("Dữ liệu giải nén quá lớn", "Decompressed payload too large"),
    "cbor_invalid": ("Cấu trúc CBOR không hợp lệ", "Invalid CBOR"),
    "cbor_too_large": ("Cấu trúc CBOR quá lớn", "CBOR too large"),
    "cose_not_sign1": ("Không phải COSE_Sign1", "Not a COSE_Sign1 structure"),
    "cose_structure": ("Cấu trúc COSE không hợp lệ", "Invalid COSE structure"),
    "cose_protected_header": ("Tiêu đề bảo vệ COSE không hợp lệ", "Invalid COSE protected header"),
    "cwt_not_map": ("Nội dung CWT không hợp lệ", "CWT payload is not a map"),
    "cwt_time_claim": ("Thời điểm phát hành/hết hạn không hợp lệ", "Missing or invalid iat/exp claim"),
    "cwt_issuer": ("Bên phát hành không hợp lệ", "Invalid issuer claim"),
    "hcert_missing": ("Thiếu chứng nhận trong mã", "Health certificate claim missing"),
    "pass_claims_invalid": ("Nội dung thẻ không hợp lệ", "Invalid pass claims"),
    "pass_issuer_invalid": ("Bên phát hành thẻ không hợp lệ", "Invalid pass issuer"),
    "pass_times_invalid": ("Thời hạn thẻ không hợp lệ", "Invalid pass validity times"),
    "pass_id_invalid": ("Mã số thẻ không hợp lệ", "Invalid pass id"),
    "pass_subject_invalid": ("Thông tin người mang thẻ không hợp lệ", "Invalid pass holder data"),
    "pass_scope_invalid": ("Phạm vi thẻ không hợp lệ", "Invalid pass scope"),
    # signature
    "alg_unsupported": ("Thuật toán chữ ký không được hỗ trợ", "Unsupported signature algorithm"),
    "alg_unprotected": (
        "Thuật toán chữ ký nằm ngoài tiêu đề bảo vệ",
        "Signature algorithm outside a non-empty protected header",
    ),
    "alg_conflict": ("Hai thuật toán chữ ký mâu thuẫn nhau", "Conflicting signature algorithms"),
    "alg_key_mismatch": (
        "Thuật toán chữ ký không khớp với loại khoá",
        "Signature algorithm does not fit the signer's key type",
    ),
    "kid_missing": ("Thiếu mã khoá (kid)", "Key identifier (kid) missing"),
    "kid_length": ("Mã khoá (kid) sai độ dài", "Key identifier (kid) has the wrong length"),
    "kid_unknown": ("Bên phát hành không được tin cậy", "Unknown signer (kid not trusted)"),
    "signature_length": ("Chữ ký sai độ dài", "Signature has the wrong length"),
    "signature_invalid": ("Chữ ký không hợp lệ (giả mạo?)", "Invalid signature (forged?)"),
    "key_usage": (
        "Khoá ký không được phép ký loại chứng nhận này",
        "Signer may not sign this certificate type",
    ),
    "signer_not_valid_at_iat": (
        "Chứng thư ký không hiệu lực lúc phát hành",
        "Signer certificate not valid at issue",
    ),
    # time
    "expired": ("Đã hết hạn", "Expired"),
    "not_yet_valid": ("Chưa có hiệu lực", "Not yet valid"),
    "clock_untrusted": (
        "Đồng hồ thiết bị không tin cậy: cần kiểm tra",
        "Kiosk clock not trusted: check by staff",
    ),
    # schema
    "schema_invalid": ("Nội dung chứng nhận sai định dạng", "Certificate content fails the DCC schema"),
    # health rules (the failed rule's own description is shown instead when it has one)
    "rule_failed": ("Không đáp ứng quy định y tế", "Does not meet the health rules"),
    # revocation and flags
    "revoked_uci": ("Chứng nhận đã bị thu hồi", "Certificate revoked (UCI)"),
    "revoked_country_uci": ("Chứng nhận đã bị thu hồi", "Certificate revoked (country + UCI)"),
    "revoked_signature": ("Mã đã bị thu hồi", "Revoked (signature)"),
    "revoked_pass_id": ("Thẻ đã bị thu hồi", "Pass revoked"),
    "flag_f0": ("Người mắc COVID-19 (F0): không được qua", "Confirmed case (F0): stop"),
    "flag_f1": ("Tiếp xúc gần (F1)", "Close contact (F1)"),
    "flag_f2": ("Tiếp xúc với F1 (F2)", "Contact of a close contact (F2)"),
    "flag_revoked": ("Người này bị đánh dấu thu hồi", "Person flagged as revoked"),
    # officer (assisted mode)
    "manual_declaration": ("Tờ khai giấy do cán bộ nhập", "Paper declaration entered by an officer"),
    "officer_confirmed": ("Cán bộ đã xác nhận", "Confirmed by the officer"),
    "officer_override": ("Cán bộ đã thay đổi kết quả", "Overridden by the officer"),
    # scope
    "out_of_zone": ("Thẻ không có hiệu lực tại khu vực này", "Pass not valid in this zone"),
    "outside_time_window": ("Ngoài khung giờ cho phép", "Outside the pass's time window"),
}


def describe(reasons: Iterable[str]) -> tuple[str, str]:
    """Join the messages of the reasons (unknown codes are shown as themselves, never dropped)."""
    vi, en = [], []
    for code in reasons:
        m_vi, m_en = MESSAGES.get(code, (code, code))
        vi.append(m_vi)
        en.append(m_en)
    return "; ".join(vi), "; ".join(en)
