"""Repair old photos: "Bringing Old Photos Back to Life" (model mode) and a classical no-download mode.

(Placeholder from the faces/classical branch; the Restorer chaining all stages is defined by the global
restoration branch.)
"""
