-- Videos whose vocal stem is the unseparated mix: the passthrough was asked for, or no
-- separation model loaded (neither Demucs nor Spleeter) and allow_passthrough was set.
-- A Spleeter stem (the offline default when no Demucs model is found) is a separation
-- and is not reported. Parameters: $video_id.
SELECT video_id, backend, model, fallback, round(audio_duration_s, 3) AS audio_duration_s
FROM stems
WHERE video_id = $video_id AND has_audio AND backend = 'passthrough';
