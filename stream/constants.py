"""The numbers of the DVS-Lip protocol that every layer shares: bin length, clip length, crop sizes.

One place for them, so the binner, the crop, the data loader, the model and the app cannot drift.
"""
from __future__ import annotations

BIN_US = 4e4 / 3  # 13,333.3 us: the reference code's 40 ms * 30 / 90 bins
BIN_MS = BIN_US / 1e3
BIN_S = BIN_US / 1e6
CLIP_BINS = 90  # bins of a DVS-Lip clip as the reference code cuts it
MOUTH_SIDE = 128  # DVS-Lip mouth crops are 128 x 128; larger sensors default to a centred 128 x 128 ROI
TRAIN_CROP_SIDE = 96  # the paper's training transform: centre 96, then a random 88
INPUT_SIDE = 88  # the network reads 88 x 88: the centre 88 of the mouth crop at test time (a config's
# input_size may name another side: its training crops are that side plus the paper's 8 px)
