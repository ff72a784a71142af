"""The mouth renderer: mouth parameters and head pose in, grey-level images out.

Geometry (mouth-local pixels, x right, y down, origin at the mouth centre): the inner lip
contours open by `aperture * open`, the upper lip taking a third of the opening and the jaw
(lower lip) the rest; the mouth corners move out with `width` and in with `round`, rounding
also makes the opening narrower and rounder and the lips fuller (protrusion); `labio` lifts
and tucks the lower lip under the upper teeth. Inside the opening: a dark oral cavity, upper
and lower teeth bands and the tongue. Around it: skin with texture (pores, blotches, stubble
for some speakers, nostrils, folds) that is pulled along by the jaw and the mouth corners, a
soft shadow under the lower lip, an illumination gradient and camera blur.

Polygons are filled with OpenCV at 1/16 pixel precision with anti-aliasing, so sub-pixel
motion changes the image smoothly, which the event camera model needs.
"""
from __future__ import annotations

import cv2
import numpy as np

from stream.synthlip.speakers import Session, Speaker

NPTS = 25  # samples along each lip contour
SHIFT = 4  # fillPoly fractional bits
_V = np.linspace(-1.0, 1.0, NPTS)


def lip_geometry(params: np.ndarray, speaker: Speaker, scale: float = 1.0) -> dict[str, np.ndarray]:
    """Contours of N frames in mouth-local pixels: x (N, P) and y (N, P) of each curve.

    Keys: x, upper_outer, upper_inner, lower_inner, lower_outer, teeth_upper (bottom edge of
    the visible upper teeth), teeth_lower (top edge of the lower teeth), tongue (top edge), plus
    per-frame scalars half_width, jaw_px, up_px.
    """
    p = np.atleast_2d(params)
    o, w, r, te, tg, lb = (p[:, i:i + 1] for i in range(6))
    o = np.clip(o, 0.0, 1.2)
    r = np.clip(r, 0.0, 1.0)
    w0 = speaker.half_width * scale
    wc = w0 * (1 + 0.18 * w - 0.25 * r) * (1 - 0.06 * o)  # corner half-width
    h = speaker.aperture * w0 * o
    a_u = 0.35 * h + lb * 0.1 * w0
    a_l = 0.65 * h * (1 - lb) + lb * 0.02 * w0
    wi = wc * (0.92 - 0.4 * r)  # inner opening half-width
    x = _V[None, :] * wc
    q = 0.6 - 0.25 * r
    prof_i = np.clip(1 - (x / wi) ** 2, 0.0, None) ** q
    vv = _V[None, :] ** 2
    corner = -(speaker.corner_lift + 0.05 * w) * w0 * vv
    fuller = 1 + 0.35 * r
    tu = speaker.upper_lip * w0 * fuller
    tl = speaker.lower_lip * w0 * fuller * (1 - 0.35 * lb)
    prof_u = np.sqrt(np.clip(1 - vv, 0.0, None)) * (1 - speaker.bow * np.exp(-(_V[None, :] / 0.13) ** 2))
    prof_l = np.clip(1 - vv, 0.0, None) ** 0.6
    upper_inner = -a_u * prof_i + corner
    lower_inner = a_l * prof_i + corner
    upper_outer = upper_inner - tu * prof_u
    lower_outer = lower_inner + tl * prof_l
    # Teeth are fixed to the skull (upper) and jaw (lower): bands from the lip edges.
    te = np.clip(te * speaker.teeth_show, 0.0, 1.0)
    prof_t = np.clip(1 - (x / (0.78 * w0)) ** 2, 0.0, None) ** 0.3
    ht = 0.3 * w0
    teeth_upper = np.minimum(upper_inner + te * ht * prof_t, lower_inner)
    teeth_lower = np.maximum(lower_inner - te * np.clip(o, 0, 1) * 0.5 * ht * prof_t, teeth_upper)
    prof_g = np.clip(1 - (x / (0.55 * np.maximum(wi, 1e-3))) ** 2, 0.0, None) ** 0.5
    tongue = np.maximum(lower_inner - np.clip(tg, 0, 1) * (0.5 * h + 0.15 * w0) * prof_g, upper_inner)
    return {
        "x": x, "upper_outer": upper_outer, "upper_inner": upper_inner, "lower_inner": lower_inner,
        "lower_outer": lower_outer, "teeth_upper": teeth_upper, "teeth_lower": teeth_lower, "tongue": tongue,
        "half_width": wc[:, 0], "jaw_px": a_l[:, 0], "up_px": a_u[:, 0], "tongue_level": tg[:, 0],
    }


def _smooth_noise(rng, shape, cells, sigma=None):
    h, w = shape
    small = rng.normal(0.0, 1.0, (max(2, h // cells), max(2, w // cells))).astype(np.float32)
    out = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    if sigma:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    return out / (out.std() + 1e-6)


class Face:
    """One speaker's face in one session, on a canvas of `size` = (width, height) pixels.

    `centre` is the mouth's nominal position on the canvas. Call `render(params, pose)` per
    frame: params (6,) mouth parameters, pose (dx, dy, roll_rad, scale) head motion.
    """

    def __init__(self, speaker: Speaker, session: Session, size: tuple[int, int], centre: tuple[float, float],
                 rng: np.random.Generator, blur_sigma: float = 0.8) -> None:
        self.speaker, self.session = speaker, session
        self.w, self.h = size
        self.cx = centre[0] + speaker.offset_x + session.dx
        self.cy = centre[1] + speaker.offset_y + session.dy
        self.roll0 = np.deg2rad(speaker.roll_deg + session.roll_deg)
        self.scale = session.scale
        self.w0 = speaker.half_width * session.scale
        self.blur_sigma = blur_sigma
        self.margin = 24
        self._texture(rng)
        # Texture lookup maps are computed on a half-resolution grid and upsampled: they are
        # smooth (an affine head transform plus smooth displacement fields).
        self.mw, self.mh = (self.w + 1) // 2, (self.h + 1) // 2
        yy, xx = np.mgrid[0:self.mh, 0:self.mw].astype(np.float32)
        self.gx = xx * (self.w / self.mw) + 0.5 * (self.w / self.mw - 1)
        self.gy = yy * (self.h / self.mh) + 0.5 * (self.h / self.mh - 1)
        self._fields()
        # Illumination: a gain and a linear gradient fixed to the camera, applied to the texture
        # at the nominal pose (the head moves a pixel or two: the gradient barely changes).
        th, tw = self.texture.shape
        ly, lx = np.mgrid[0:th, 0:tw].astype(np.float32)
        lx -= self.ox
        ly -= self.oy
        cr, sr = np.cos(self.roll0), np.sin(self.roll0)
        gx = self.cx + cr * lx - sr * ly - self.w / 2
        gy = self.cy + sr * lx + cr * ly - self.h / 2
        d = session.light_dir
        ramp = (gx * np.cos(d) + gy * np.sin(d)) / 64.0
        light = np.clip(session.gain * (1 + session.light_slope * ramp), 0.2, None)
        self.texture = (self.texture * light).astype(np.float32)
        self.r_upper = 0.9 * speaker.lip_ratio
        self.r_lower = speaker.lip_ratio
        self.r_high = min(1.0, 1.15 * speaker.lip_ratio)
        self.r_cavity = speaker.cavity / speaker.skin
        self.r_teeth = speaker.teeth / speaker.skin
        self.r_tongue = 0.8 * speaker.lip_ratio
        self.albedo = np.ones((self.h, self.w), np.float32)

    # -- static parts -------------------------------------------------------------------
    def _texture(self, rng: np.random.Generator) -> None:
        """Skin texture in mouth-local coordinates, origin at texture pixel (ox, oy)."""
        sp, m = self.speaker, self.margin
        th, tw = self.h + 2 * m, self.w + 2 * m
        self.ox, self.oy = self.cx + m, self.cy + m
        w0 = self.w0
        tex = np.ones((th, tw), np.float32)
        tex *= 1 + 0.05 * _smooth_noise(rng, (th, tw), 24)
        tex *= 1 + 0.03 * _smooth_noise(rng, (th, tw), 6)
        pores = cv2.GaussianBlur(rng.normal(0, 1, (th, tw)).astype(np.float32), (0, 0), 0.7)
        tex *= 1 + sp.texture * pores / (pores.std() + 1e-6)
        yy, xx = np.mgrid[0:th, 0:tw].astype(np.float32)
        lx, ly = xx - self.ox, yy - self.oy
        feat = np.ones((th, tw), np.float32)
        # nostrils and the nose base, folds, chin crease
        for s in (-1, 1):
            cv2.ellipse(feat, (int(self.ox + s * 0.42 * w0), int(self.oy - 1.62 * w0)),
                        (int(0.22 * w0), int(0.11 * w0)), 0, 0, 360, 0.3, -1, cv2.LINE_AA)
            pts = np.array([[self.ox + s * (1.15 + 0.25 * k) * w0, self.oy + (-1.3 + 1.9 * k) * w0]
                            for k in np.linspace(0, 1, 8)], np.float32)
            cv2.polylines(feat, [np.round(pts).astype(np.int32)], False, 0.85, max(1, int(0.08 * w0)), cv2.LINE_AA)
        cv2.ellipse(feat, (int(self.ox), int(self.oy - 1.95 * w0)), (int(0.9 * w0), int(0.3 * w0)), 0, 0, 360, 1.12, -1)
        cv2.ellipse(feat, (int(self.ox), int(self.oy + 1.3 * w0)), (int(0.55 * w0), int(0.08 * w0) + 1),
                    0, 0, 360, 0.88, -1, cv2.LINE_AA)
        feat = cv2.GaussianBlur(feat, (0, 0), max(1.0, 0.06 * w0))
        tex *= feat
        # soft shadow under the lower lip, drawn at rest; the jaw field carries it along
        rest = np.array([[sp.rest_open, 0, 0, 0, 0, 0]])
        g = lip_geometry(rest, sp, self.session.scale)
        xs, lo, li = g["x"][0], g["lower_outer"][0], g["lower_inner"][0]
        band = np.concatenate([np.stack([0.8 * xs, lo - 0.2 * (lo - li)], 1),
                               np.stack([0.8 * xs, lo + 0.35 * w0], 1)[::-1]])
        shade = np.ones((th, tw), np.float32)
        cv2.fillPoly(shade, [np.round((band + [self.ox, self.oy]) * 16).astype(np.int32)], 0.8, cv2.LINE_AA, SHIFT)
        tex *= cv2.GaussianBlur(shade, (0, 0), max(1.0, 0.1 * w0))
        # vertical lip wrinkles where the lips are at rest (they move with the jaw/lip fields)
        lipzone = np.exp(-((lx / (1.0 * w0)) ** 2 + ((ly - 0.03 * w0) / (0.42 * w0)) ** 2) ** 3)
        wav = np.sin(2 * np.pi * lx / (0.1 * w0) + 2.5 * _smooth_noise(rng, (th, tw), 8))
        tex *= 1 + 0.2 * lipzone * wav
        if sp.beard > 0:
            dots = (rng.random((th, tw)) < 0.12 * sp.beard).astype(np.float32)
            dots = cv2.GaussianBlur(dots, (0, 0), 0.6)
            lips = np.exp(-((lx / (1.1 * w0)) ** 2 + (ly / (0.55 * w0)) ** 2) ** 2)  # no stubble on the lips
            tex *= 1 - 0.6 * sp.beard * np.clip(dots * 2.5, 0, 1) * (1 - lips)
        # face outline (visible on large canvases only)
        face = ((lx / (3.1 * w0)) ** 2 + ((ly + 0.3 * w0) / (3.9 * w0)) ** 2) < 1
        face = cv2.GaussianBlur(face.astype(np.float32), (0, 0), 2.0)
        background = np.clip(0.55 + 0.06 * _smooth_noise(rng, (th, tw), 40), 0.3, 0.8)
        texture = self.speaker.skin * (tex * face + background * (1 - face))
        self.texture = np.clip(texture, 0.01, 1.0).astype(np.float32)

    def _fields(self) -> None:
        """Unit displacement fields (canvas coordinates) for the jaw, upper lip and corners."""
        xx, yy = self.gx, self.gy
        c, s = np.cos(self.roll0), np.sin(self.roll0)
        dx, dy = (xx - self.cx) / self.scale, (yy - self.cy) / self.scale
        lx = c * dx + s * dy
        ly = -s * dx + c * dy
        w0 = self.w0
        gate = np.exp(-(lx / (1.4 * w0)) ** 2)
        below = 1 / (1 + np.exp(-ly / (0.1 * w0)))
        chin = 1 - (1 - self.speaker.jaw) * np.clip((ly - 0.5 * w0) / w0, 0, 1)
        jaw = gate * below * chin * np.exp(-np.clip(ly - 1.5 * w0, 0, None) / (2.5 * w0))
        above = 1 / (1 + np.exp(ly / (0.1 * w0)))
        up = -gate * above * np.exp(-np.clip(-ly - 0.45 * w0, 0, None) / (0.5 * w0))
        side = np.tanh(lx / w0) * np.exp(-(ly / (1.0 * w0)) ** 2) * np.exp(-np.clip(np.abs(lx) - w0, 0, None) / w0)
        # local displacement (0, jaw), (0, up), (side, 0) to canvas directions
        self.f_jaw = (-s * jaw, c * jaw)
        self.f_up = (-s * up, c * up)
        self.f_side = (c * side, s * side)
        fields = [np.asarray(a, np.float32) for pair in (self.f_jaw, self.f_up, self.f_side) for a in pair]
        basis = [self.gx, self.gy, *fields, np.ones_like(self.gx)]
        self.basis = np.ascontiguousarray(np.stack([b.reshape(-1) for b in basis], 1))  # (P, 9)

    # -- per frame ----------------------------------------------------------------------
    def prepare(self, params: np.ndarray, poses: np.ndarray) -> None:
        """Precompute the polygons of N frames: params (N, 6), poses (N, 4) = dx, dy, roll, scale."""
        geo = lip_geometry(params, self.speaker, self.scale)
        self.poses = np.asarray(poses, float)
        sc = self.poses[:, 3:4]
        th = self.roll0 + self.poses[:, 2:3]
        a, b = np.cos(th) * sc, np.sin(th) * sc  # rotation and head scale, per frame
        cx, cy = self.cx + self.poses[:, 0:1], self.cy + self.poses[:, 1:2]

        def img(xs, ys, div=1.0):
            """Local (N, P) curves to fixed-point canvas points (N, P, 2)."""
            X = cx + a * xs - b * ys
            Y = cy + b * xs + a * ys
            return np.round(np.stack([X, Y], -1) * (16.0 / div)).astype(np.int32)

        x = geo["x"]
        uo, ui, li, lo = geo["upper_outer"], geo["upper_inner"], geo["lower_inner"], geo["lower_outer"]
        rev = slice(None, None, -1)

        def poly(top, bottom, xs=x, div=1.0):
            return np.concatenate([img(xs, top, div), img(xs, bottom, div)[:, rev]], 1)

        self.p_upper = poly(uo, ui)
        self.p_lower = poly(li, lo)
        self.p_high = poly(li + 0.2 * (lo - li), li + 0.45 * (lo - li), 0.6 * x)
        self.p_cavity = poly(ui, li)
        # Teeth and tongue: only the columns where the band has some height (no hairlines).
        self.bands = []
        for top, bottom in ((ui, geo["teeth_upper"]), (geo["teeth_lower"], li), (geo["tongue"], li)):
            ok = (bottom - top) > 0.25
            first = np.argmax(ok, 1)
            last = ok.shape[1] - 1 - np.argmax(ok[:, ::-1], 1)
            self.bands.append((img(x, top), img(x, bottom), ok.any(1), np.maximum(first - 1, 0),
                               np.minimum(last + 2, ok.shape[1])))
        self.open = (li - ui).max(1) > 0.05
        self.tongue_front = geo["tongue_level"] > 0.5
        self.disp = np.stack([geo["jaw_px"], geo["up_px"], geo["half_width"] - self.w0], 1)

    def render(self, k: int) -> np.ndarray:
        """Intensity image (H, W) float32 of frame `k` of the prepared sequence."""
        tx, ty, roll, sc = (float(v) for v in self.poses[k])
        th = self.roll0 + roll
        c, sn = float(np.cos(th)), float(np.sin(th))
        cx, cy = float(self.cx + tx), float(self.cy + ty)
        inv = 1.0 / sc
        jaw, up, side = (float(v) for v in self.disp[k])
        # Skin: canvas point -> minus the jaw/lip/corner displacement -> local -> texture. The
        # lookup map is linear in a few basis images (see _fields), so one small matrix
        # product gives both coordinates, interleaved as remap wants them.
        ci, si = c * inv, sn * inv
        coef = np.array([
            [ci, -si], [si, ci],
            [-jaw * ci, jaw * si], [-jaw * si, -jaw * ci],
            [-up * ci, up * si], [-up * si, -up * ci],
            [-side * ci, side * si], [-side * si, -side * ci],
            [self.ox - ci * cx - si * cy, self.oy + si * cx - ci * cy],
        ], np.float32)
        half = (self.basis @ coef).reshape(self.mh, self.mw, 2)
        maps = cv2.resize(half, (self.w, self.h), interpolation=cv2.INTER_LINEAR)
        img = cv2.remap(self.texture, maps, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # albedo relative to skin: lips, cavity, teeth, tongue
        alb = self.albedo
        alb.fill(1.0)
        cv2.fillPoly(alb, [self.p_upper[k]], self.r_upper, cv2.LINE_AA, SHIFT)
        cv2.fillPoly(alb, [self.p_lower[k]], self.r_lower, cv2.LINE_AA, SHIFT)
        cv2.fillPoly(alb, [self.p_high[k]], self.r_high, cv2.LINE_AA, SHIFT)
        cv2.fillPoly(alb, [self.p_cavity[k]], self.r_cavity, cv2.LINE_AA, SHIFT)
        if self.open[k]:
            order = ((2, self.r_tongue), (0, self.r_teeth), (1, self.r_teeth))
            if self.tongue_front[k]:
                order = order[1:] + order[:1]
            for j, value in order:
                top, bottom, any_, lo, hi = self.bands[j]
                if any_[k]:
                    a, b = lo[k], hi[k]
                    cv2.fillPoly(alb, [np.concatenate([top[k, a:b], bottom[k, a:b][::-1]])], value, cv2.LINE_AA, SHIFT)
        img *= alb
        if self.blur_sigma > 0:
            img = cv2.GaussianBlur(img, (5, 5), self.blur_sigma)
        return img


def head_motion(rng: np.random.Generator, times_s: np.ndarray, amp_px: float, amp_deg: float) -> np.ndarray:
    """Smooth head pose (N, 4): dx, dy (pixels), roll (radians), scale; sums of slow sinusoids."""
    out = np.zeros((len(times_s), 4))
    out[:, 3] = 1.0
    for col, amp in ((0, amp_px), (1, amp_px), (2, np.deg2rad(amp_deg)), (3, 0.01 * amp_px / 1.5)):
        f = rng.uniform(0.2, 1.6, 3)
        ph = rng.uniform(0, 2 * np.pi, 3)
        a = rng.uniform(0.3, 1.0, 3)
        wave = (a[None] * np.sin(2 * np.pi * f[None] * times_s[:, None] + ph[None])).sum(1) / a.sum()
        out[:, col] += amp * wave
    return out
