"""Where the mouth is in a grey APS frame: dlib's HOG frontal face detector, then fixed
proportions of the face box, so `--roi auto` can follow the mouth where a camera has frames.

The proportions come from measurement: on matplotlib's `grace_hopper.jpg` the mouth (corners
x 226 and 304, lip line y 278, read off the image by eye) lies, over 35 placements of the photo
on a 346 x 260 frame at scales 0.4-1.0, at 0.49 +- 0.03 of the detector's box width from its
left edge (0.5 is used: a frontal face is symmetric), 0.70 +- 0.04 of its height from its top,
and is 0.39 +- 0.04 box widths wide. The crop side follows SynthLip's model of DVS-Lip, whose
128-pixel crops hold mouths 74 pixels wide on average (2 x the mean `half_width` of 37,
stream/synthlip/speakers.py): side = 128 / 74 mouth widths.
"""
from __future__ import annotations

from typing import NamedTuple

import dlib
import numpy as np

MOUTH_X = 0.5  # mouth centre, fraction of the face box width from its left edge
MOUTH_Y = 0.70  # and of its height from its top
MOUTH_WIDTH = 0.39  # mouth corner to corner, in face box widths
CROP_PER_MOUTH = 128 / 74  # a DVS-Lip-style crop side, in mouth widths
SIDE = MOUTH_WIDTH * CROP_PER_MOUTH  # crop side in face box widths (0.67)


class MouthBox(NamedTuple):
    """Estimated mouth centre and the side of a square around it that a 128-pixel DVS-Lip crop
    would cover, in image pixels."""

    cx: float
    cy: float
    side: float


class MouthFinder:
    """`find(image)`: the mouth of the largest frontal face in a grey frame, or None.

    dlib's HOG detector (its model is built into the library: nothing is downloaded) finds faces
    down to about 70 pixels wide; when it finds none, `find` looks again at twice the size
    (`upsample`), which reaches faces of about 35 pixels. Measured here (a 2-core host, dlib
    uses one) on a 346 x 260 DAVIS frame: 4.5-6 ms with a face found at the first look,
    25-28 ms in all when the second look is needed or nothing is there.
    """

    def __init__(self, upsample: bool = True) -> None:
        self._detect = dlib.get_frontal_face_detector()
        self.upsample = upsample

    def find(self, image: np.ndarray) -> MouthBox | None:
        image = np.ascontiguousarray(image, np.uint8)
        faces = self._detect(image, 0)
        if not len(faces) and self.upsample:
            faces = self._detect(image, 1)
        if not len(faces):
            return None
        face = max(faces, key=lambda r: r.width() * r.height())
        return MouthBox(
            cx=face.left() + MOUTH_X * face.width(),
            cy=face.top() + MOUTH_Y * face.height(),
            side=SIDE * face.width(),
        )
