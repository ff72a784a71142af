"""A scripted stand-in for a dv-processing camera, for CameraSource tests without hardware."""
import time

import dv_processing as dv


def store(t0: int, n: int, width: int = 346) -> dv.EventStore:
    s = dv.EventStore()
    for k in range(n):
        s.push_back(t0 + k, k % width, k % 200, bool(k % 2))
    return s


class FakeCamera:
    """The methods CameraSource uses, scripted: a list of batches (None = nothing yet), then
    `unplug` (isRunning() false), or raise `error` from getNextEventBatch. `frames` (a DAVIS):
    dv.Frame objects getNextFrame hands out one a call (None where there is none yet)."""

    def __init__(self, script, resolution=(346, 260), name="DVXplorer_DXA00093", error=None, after_unplug=(),
                 frames=None):
        self.script = list(script)
        self.after_unplug = list(after_unplug)
        self.resolution = resolution
        self.name = name
        self.error = error
        self.unplugged = False
        self.frames = None if frames is None else list(frames)
        self.frame_calls = 0

    def getEventResolution(self):
        return self.resolution

    def getCameraName(self):
        return self.name

    def isFrameStreamAvailable(self):
        return self.frames is not None

    def getNextFrame(self):
        self.frame_calls += 1
        return self.frames.pop(0) if self.frames else None

    def isImuStreamAvailable(self):
        return True

    def isTriggerStreamAvailable(self):
        return False

    def isRunning(self):
        return not self.unplugged

    def getNextEventBatch(self):
        if self.unplugged:
            return self.after_unplug.pop(0) if self.after_unplug else None
        if not self.script:
            if self.error is not None:
                raise self.error
            self.unplugged = True
            return None
        item = self.script.pop(0)
        if isinstance(item, float):  # a pause: nothing for this long
            time.sleep(item)
            return None
        return item
