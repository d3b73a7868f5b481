"""QR decoding: zxing-cpp with recovery strategies, a learned fallback, a dedupe window and a motion gate."""

from kiosk.decode.config import DecodeConfig
from kiosk.decode.decoder import DecodedCode, QrDecoder
from kiosk.decode.dedupe import DedupeWindow
from kiosk.decode.learned import LearnedReader, ModelFileError, WeChatReader
from kiosk.decode.motion import MotionGate
from kiosk.decode.scanner import FrameScanner

__all__ = [
    "DecodeConfig",
    "DecodedCode",
    "DedupeWindow",
    "FrameScanner",
    "LearnedReader",
    "ModelFileError",
    "MotionGate",
    "QrDecoder",
    "WeChatReader",
]
