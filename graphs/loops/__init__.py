"""Loop detection that tells progress from repetition (see rules.py for the signals)."""

from graphs.loops.detection import Detection
from graphs.loops.detector import LoopDetector, scan
from graphs.loops.record import Observation

__all__ = ["Detection", "LoopDetector", "Observation", "scan"]
