"""The audio stage: vocal stems (Demucs) and word-aligned transcripts (WhisperX).

Heavy imports (torch, demucs, whisperx, pocketsphinx) happen inside the functions that
need them, so importing this package is cheap.
"""
