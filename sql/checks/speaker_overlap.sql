-- Words of one video spoken while two or more speakers are active: the turns of at least two
-- speakers each cover at least $min_cover (a share, 0.5 in the pipeline) of the word.
-- Such a word's audio holds two voices; words.speaker names only the one that covers it
-- most. Parameters: $video_id, $min_cover.
WITH video_words AS (
    SELECT row_number() OVER (ORDER BY start, segment) AS n, *
    FROM words WHERE video_id = $video_id
),
covered AS (
    SELECT w.n, t.speaker AS active,
        sum(least(w."end", t."end") - greatest(w.start, t.start)) AS seconds
    FROM video_words AS w
    JOIN speaker_turns AS t
        ON t.video_id = $video_id AND t.start < w."end" AND t."end" > w.start
    GROUP BY w.n, t.speaker
),
overlapped AS (
    SELECT c.n, string_agg(c.active, ', ' ORDER BY c.active) AS active_speakers
    FROM covered AS c
    JOIN video_words AS w USING (n)
    WHERE c.seconds >= $min_cover * (w."end" - w.start)
    GROUP BY c.n
    HAVING count(*) >= 2
)
SELECT w.video_id, w.segment, w.word, w.start, w."end", w.speaker, o.active_speakers
FROM overlapped AS o
JOIN video_words AS w USING (n)
ORDER BY w.start, w.segment
