-- Words of one video whose alignment score is below $min_score, with their segment's verdict.
-- Parameters: $video_id, $min_score (default 0.4 in the pipeline).
-- Every row also carries the video's totals (all words, low words, their share, segments,
-- segments dropped for a low-confidence run, segments dropped for any reason), so the
-- asset check can report the counts and pass while low_share stays below its threshold.
-- Segments are marked (kept = false, drop_reason) by the pipeline, never deleted.
-- `aligner` says what timed each word: a forced aligner, Whisper's word timestamps (the
-- fallback), or 'interpolated' where no backend could (score 0, `interpolated` true); the
-- totals count interpolated words and words timed by the fallback apart.
WITH video_words AS (
    SELECT * FROM words WHERE video_id = $video_id
),
video_segments AS (
    SELECT * FROM segments WHERE video_id = $video_id
),
totals AS (
    SELECT
        (SELECT count(*) FROM video_words) AS n_words,
        (SELECT count(*) FROM video_words WHERE score < $min_score) AS n_low_words,
        (SELECT count(*) FROM video_words WHERE aligner = 'interpolated') AS n_interpolated_words,
        (SELECT count(*) FROM video_words WHERE aligner = 'whisper') AS n_whisper_words,
        (SELECT count(*) FROM video_segments) AS n_segments,
        (SELECT count(*) FROM video_segments
            WHERE NOT kept AND drop_reason LIKE '%low_confidence_run%') AS n_low_run_segments,
        (SELECT count(*) FROM video_segments WHERE NOT kept) AS n_dropped_segments
)
SELECT
    w.video_id,
    w.segment,
    w.word,
    w.start,
    w."end",
    w.score,
    w.aligner,
    coalesce(w.aligner = 'interpolated', false) AS interpolated,
    s.kept AS segment_kept,
    s.drop_reason,
    t.n_words,
    t.n_low_words,
    t.n_low_words::DOUBLE / nullif(t.n_words, 0) AS low_share,
    t.n_interpolated_words,
    t.n_interpolated_words::DOUBLE / nullif(t.n_words, 0) AS interpolated_share,
    t.n_whisper_words,
    t.n_segments,
    t.n_low_run_segments,
    t.n_dropped_segments
FROM video_words AS w
CROSS JOIN totals AS t
LEFT JOIN video_segments AS s ON s.segment = w.segment
WHERE w.score < $min_score
ORDER BY w.start, w.segment
