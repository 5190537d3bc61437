-- The transcript of one video, when Whisper was unsure of its language or its text is a
-- loop: language_probability (the transcript language's probability, averaged over the
-- speech chunks by duration) below $min_language_probability, or, over at least
-- $min_loop_words words (pieces of words, see below), a share of repeated word trigrams above $max_loop_share
-- ("Chinese later Chinese later ..." repeats nearly every trigram; speech repeats few).
-- Parameters: $video_id, $min_language_probability, $max_loop_share, $min_loop_words.
-- A video transcribed with an English-only model has no language probability: only the
-- loop test applies to it. Segments heard in another language are counted alongside.
WITH pieces AS (
    -- Each word split where it is neither a letter nor a digit (Unicode classes: "中文" and
    -- "fährt" stay whole; the POSIX [:alnum:] is ASCII and erased them), so a loop written
    -- as one hyphen-joined word ("3-2-3-3-2-3-...") is counted piece by piece.
    SELECT s.segment, s.start, r.k, s.parts[r.k + 1] AS w
    FROM (
        SELECT segment, start, regexp_split_to_array(lower(word), '[^\pL\pN]+') AS parts
        FROM words
        WHERE video_id = $video_id
    ) AS s,
    range(len(s.parts)) AS r(k)
),
ordered AS (
    SELECT w, row_number() OVER (ORDER BY segment, start, k) AS i
    FROM pieces
    WHERE w <> ''
),
trigrams AS (
    SELECT a.w || ' ' || b.w || ' ' || c.w AS gram
    FROM ordered AS a
    JOIN ordered AS b ON b.i = a.i + 1
    JOIN ordered AS c ON c.i = a.i + 2
),
loops AS (
    SELECT
        (SELECT count(*) FROM ordered) AS n_words,
        count(*) AS n_trigrams,
        1.0 - count(DISTINCT gram)::DOUBLE / nullif(count(*), 0) AS loop_share
    FROM trigrams
),
other_language AS (
    SELECT
        count(*) AS n_segments,
        count(*) FILTER (WHERE detected_language IS NOT NULL AND detected_language <> language)
            AS n_other_language_segments
    FROM segments
    WHERE video_id = $video_id
)
SELECT
    t.video_id,
    t.language,
    t.language_source,
    round(t.language_probability, 4) AS language_probability,
    round(l.loop_share, 4) AS loop_share,
    l.n_words,
    o.n_segments,
    o.n_other_language_segments,
    t.whisper_model,
    concat_ws(', ',
        CASE WHEN t.language_probability < $min_language_probability THEN 'low_language_probability' END,
        CASE WHEN l.n_words >= $min_loop_words AND l.loop_share > $max_loop_share THEN 'repeated_loop' END
    ) AS reason
FROM transcripts AS t
CROSS JOIN loops AS l
CROSS JOIN other_language AS o
WHERE t.video_id = $video_id
  AND t.has_audio
  AND (t.language_probability < $min_language_probability
       OR (l.n_words >= $min_loop_words AND l.loop_share > $max_loop_share))
