"""Generated media and models, for the tests, the benches and the main job's sample.

Nothing here is used by the pipeline's stages; everything is made on the spot, so nothing
copyrighted or downloaded is needed:

- :mod:`.synth`: ffmpeg lavfi videos of shots with cuts at known frames, in chosen encodings
  and containers.
- :mod:`.speech`: espeak-ng speech with known word timings, dialogues, music beds.
- :mod:`.sample`: the main job's sample video (shots, speech, one short shot).
- :mod:`.audio_models`: randomly initialised models of the real audio architectures
  (HTDemucs, Wav2Vec2 CTC, a pyannote diarization pipeline).
- :mod:`.tokens`: a tiny tokenizer configuration and short lavfi clips for the token stage.
- :mod:`.bad_media`: the corpus of bad and awkward media files, each with its expected outcome.
- :mod:`.shard_data`: small data roots of clips, words and random tokens for the shard stage.
"""
