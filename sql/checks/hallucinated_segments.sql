-- Segments of one video flagged as likely hallucinations: an n-gram looping through the
-- segment (repeated_ngram) or words placed where the VAD heard no speech (outside_vad).
-- Parameters: $video_id. The pipeline marks them kept = false; this lists them.
SELECT
    s.video_id,
    s.segment,
    s.start,
    s."end",
    s.text,
    s.drop_reason,
    (SELECT count(*) FROM words AS w WHERE w.video_id = s.video_id AND w.segment = s.segment) AS n_words,
    (SELECT count(*) FROM segments AS a WHERE a.video_id = $video_id) AS n_segments
FROM segments AS s
WHERE s.video_id = $video_id
  AND (s.drop_reason LIKE '%repeated_ngram%' OR s.drop_reason LIKE '%outside_vad%')
ORDER BY s.start
