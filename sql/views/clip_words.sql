-- Each clip's words, timed from the clip's first frame; only words lying wholly inside the
-- clip (a word cut by a clip boundary belongs to neither side). segment_kept carries the
-- transcript segment's verdict so a loader can skip dropped segments.
CREATE OR REPLACE VIEW clip_words AS
SELECT
    c.video_id,
    c.clip_id,
    c.scene_index,
    w.segment,
    w.word,
    w.start - c.start_s AS start_s,
    w."end" - c.start_s AS end_s,
    w.score,
    w.speaker,
    s.kept AS segment_kept
FROM clips AS c
JOIN words AS w
    ON w.video_id = c.video_id
   AND w.start >= c.start_s
   AND w."end" <= c.end_s
LEFT JOIN segments AS s
    ON s.video_id = w.video_id
   AND s.segment = w.segment
