"""A cheap gate in front of the decoder: a static scene with no code costs almost nothing.

Most of a kiosk's day is an empty doorway. Decoding every frame of it burns CPU (and heat, on a Pi
in a sealed box). The gate samples each frame into a small thumbnail (bilinear sampling: a few tens
of microseconds, against a millisecond or more for a decode) and compares it with the thumbnail of
the last decoded frame that held no code. It counts pixels that changed by more than
sensor noise can explain, so a noisy but empty scene stays "static" while a hand or a phone
entering changes hundreds of them. The decoder runs when the scene moved, when the last decode
found a code (someone is still there), or when `max_skip_s` passed since the last decode (slow
drift, a code held perfectly still after a failed read). The change that counts scales with the
scene's brightness: at dusk a card entering the view changes pixels by a few grey levels only.

While a code is in view every frame is decoded anyway, so those frames make no thumbnail at all: a
passed frame's thumbnail is made only once its decode found nothing (it is then the reference). On
small frames the thumbnail costs a fifth of a library call, which would otherwise be paid on every
frame with a code for nothing.
"""

from __future__ import annotations

import cv2
import numpy as np

THUMB_SIZE = (96, 72)
DIM_SCENE = 64.0  # mean grey level below which a scene counts as dim (the motion threshold shrinks)


class MotionGate:
    def __init__(self, pixel_delta: int = 25, fraction: float = 0.01, max_skip_s: float = 1.0) -> None:
        self.pixel_delta = pixel_delta
        self.min_changed = max(1, round(fraction * THUMB_SIZE[0] * THUMB_SIZE[1]))
        self.max_skip_s = max_skip_s
        self.last_reason = ""
        self._reference: np.ndarray | None = None
        self._delta = float(pixel_delta)  # the change that counts against the reference (its brightness)
        # A passed frame whose thumbnail is not made yet: it becomes the reference only if its decode
        # finds nothing (see `decoded`), so frames with a code never pay for a thumbnail.
        self._pending: np.ndarray | None = None
        self._last_decode_at: float | None = None
        self._last_had_code = False
        self.skipped = 0

    def should_decode(self, gray: np.ndarray, now: float) -> bool:
        """Decide for one frame; `last_reason` says why ("first", "code", "timer", "motion", "static")."""
        if self._pending is not None:  # `decoded` was not called for the last passed frame
            self._set_reference(self._pending)
        if self._last_decode_at is None:
            reason = "first"
        elif self._last_had_code:
            # Someone is holding a code up: decode, and compare nothing (the thumbnail is made later,
            # only if this frame turns out to hold no code).
            reason = "code"
        else:
            thumb = cv2.resize(gray, THUMB_SIZE, interpolation=cv2.INTER_LINEAR)
            if self._moved(thumb):
                reason = "motion"
            elif now - self._last_decode_at >= self.max_skip_s:
                reason = "timer"
            else:
                self.last_reason = "static"
                self.skipped += 1
                return False
            self.last_reason = reason
            self._set_thumbnail(thumb)
            self._last_decode_at = now
            return True
        self.last_reason = reason
        self._pending = gray
        self._last_decode_at = now
        return True

    def _set_reference(self, gray: np.ndarray) -> None:
        self._pending = None
        self._set_thumbnail(cv2.resize(gray, THUMB_SIZE, interpolation=cv2.INTER_LINEAR))

    def _set_thumbnail(self, thumb: np.ndarray) -> None:
        # `pixel_delta` holds for any scene lit at least dimly (mean grey >= 64). At dusk everything, the
        # card entering included, is a few grey levels apart, and so is the sensor noise: below that,
        # scale the threshold with the scene's brightness, down to a third of it (below that, noise
        # alone would count as motion). Worked out once per reference, not once per frame.
        self._reference = thumb
        dimness = min(1.0, cv2.mean(thumb)[0] / DIM_SCENE)  # cv2: a tenth of numpy's time here
        self._delta = max(self.pixel_delta / 3.0, self.pixel_delta * dimness)

    def _moved(self, thumb: np.ndarray) -> bool:
        if self._reference is None:
            return True
        changed = cv2.absdiff(thumb, self._reference) > self._delta
        return int(np.count_nonzero(changed)) >= self.min_changed

    def decoded(self, found_code: bool) -> None:
        """Tell the gate what the decode of the last passed frame found (call it before that frame's
        buffer is reused: a frame with no code becomes the reference the next frames are compared with)."""
        self._last_had_code = found_code
        if self._pending is not None and not found_code:
            self._set_reference(self._pending)
        self._pending = None
