"""The audio stage: vocal stems (Demucs, or Spleeter offline), word-aligned transcripts
(WhisperX) and speakers (pyannote, or the offline segmentation + Resemblyzer diarizer).

Heavy imports (torch, demucs, whisperx, pocketsphinx, pyannote, resemblyzer) happen inside
the functions that need them, so importing this package is cheap.
"""
