"""A cheap gate in front of the decoder: a static scene with no code costs almost nothing.

Most of a kiosk's day is an empty doorway. Decoding every frame of it burns CPU (and heat, on a Pi
in a sealed box). The gate samples each frame into a small thumbnail (bilinear sampling: about
fifteen microseconds, against a millisecond or more for a decode) and compares it with the
thumbnail of the last frame that was actually decoded. It counts pixels that changed by more than
sensor noise can explain, so a noisy but empty scene stays "static" while a hand or a phone
entering changes hundreds of them. The decoder runs when the scene moved, when the last decode
found a code (someone is still there), or when `max_skip_s` passed since the last decode (slow
drift, a code held perfectly still after a failed read). The change that counts scales with the
scene's brightness: at dusk a card entering the view changes pixels by a few grey levels only.
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
        self._last_decode_at: float | None = None
        self._last_had_code = False
        self.skipped = 0

    def should_decode(self, gray: np.ndarray, now: float) -> bool:
        """Decide for one frame; `last_reason` says why ("first", "code", "timer", "motion", "static")."""
        thumb = cv2.resize(gray, THUMB_SIZE, interpolation=cv2.INTER_LINEAR)
        if self._reference is None or self._last_decode_at is None:
            reason = "first"
        elif self._last_had_code:
            reason = "code"
        elif self._moved(thumb, self._reference):
            reason = "motion"
        elif now - self._last_decode_at >= self.max_skip_s:
            reason = "timer"
        else:
            self.last_reason = "static"
            self.skipped += 1
            return False
        self.last_reason = reason
        self._reference = thumb
        self._last_decode_at = now
        return True

    def _moved(self, thumb: np.ndarray, reference: np.ndarray) -> bool:
        # `pixel_delta` holds for any scene lit at least dimly (mean grey >= 64). At dusk everything, the
        # card entering included, is a few grey levels apart, and so is the sensor noise: below that,
        # scale the threshold with the scene's brightness, down to a third of it (below that, noise
        # alone would count as motion).
        dimness = min(1.0, cv2.mean(reference)[0] / DIM_SCENE)  # cv2: a tenth of numpy's time here
        delta = max(self.pixel_delta / 3.0, self.pixel_delta * dimness)
        changed = cv2.absdiff(thumb, reference) > delta
        return int(np.count_nonzero(changed)) >= self.min_changed

    def decoded(self, found_code: bool) -> None:
        """Tell the gate what the decode of the last passed frame found."""
        self._last_had_code = found_code
