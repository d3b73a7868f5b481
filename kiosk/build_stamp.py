"""When this build was made: no kiosk running it can be earlier, so it is the lowest time floor.

Written by `scripts/stamp-build` when packaging (the time of the commit being packaged, so a
rebuild of the same commit gives the same file); the value committed here is that of the last
stamping, which is still a lower bound for any later build.
"""

BUILD_TIME = "2026-11-29T19:38:43+00:00"
