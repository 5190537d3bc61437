-- One video's transcript totals, attached to the audio checks whatever their verdict.
-- Parameters: $video_id, $min_score. interpolated_words: no backend could time them;
-- whisper_timed_words: timed by Whisper's word timestamps (the chosen aligner's or its fallback).
SELECT
    (SELECT count(*) FROM words WHERE video_id = $video_id) AS words,
    (SELECT count(*) FROM words WHERE video_id = $video_id AND score < $min_score) AS low_words,
    (SELECT count(*) FROM words WHERE video_id = $video_id AND aligner = 'interpolated') AS interpolated_words,
    (SELECT count(*) FROM words WHERE video_id = $video_id AND aligner = 'whisper') AS whisper_timed_words,
    (SELECT count(*) FROM segments WHERE video_id = $video_id) AS segments,
    (SELECT count(*) FROM segments WHERE video_id = $video_id AND NOT kept) AS dropped_segments,
    (SELECT count(*) FROM segments
        WHERE video_id = $video_id AND NOT kept AND drop_reason LIKE '%low_confidence_run%') AS low_run_segments,
    (SELECT count(*) FROM segments
        WHERE video_id = $video_id AND (drop_reason LIKE '%repeated_ngram%' OR drop_reason LIKE '%outside_vad%'))
        AS hallucinated_segments
