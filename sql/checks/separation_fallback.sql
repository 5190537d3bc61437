-- Videos whose vocal stem is not a Demucs separation: the mix was passed through because
-- no Demucs model was available (allowed by allow_passthrough). Parameters: $video_id.
SELECT video_id, backend, model, fallback, round(audio_duration_s, 3) AS audio_duration_s
FROM stems
WHERE video_id = $video_id AND has_audio AND backend <> 'demucs';
