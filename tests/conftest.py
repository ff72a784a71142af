"""Shared test setup: Qt must render offscreen on machines without a screen."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
