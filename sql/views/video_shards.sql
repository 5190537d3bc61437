-- Per video: its clips, how many are in the training shards, and why the others are left
-- out: "reason: clips" for each exclusion reason (a clip failing two rules counts under
-- both), and "not_packed_yet" for clips that training_shards has not judged since they
-- were cut.
CREATE OR REPLACE VIEW video_shards AS
WITH per_clip AS (
    SELECT
        c.video_id,
        c.clip_id,
        bool_or(s.clip_id IS NOT NULL) AS in_shards,
        list(DISTINCT e.reason) FILTER (WHERE e.reason IS NOT NULL) AS reasons
    FROM clips AS c
    LEFT JOIN shard_samples AS s
        ON s.video_id = c.video_id AND s.clip_id = c.clip_id
    LEFT JOIN shard_exclusions AS e
        ON e.video_id = c.video_id AND e.clip_id = c.clip_id
    GROUP BY c.video_id, c.clip_id
),
why AS (
    SELECT video_id, reason, count(*) AS clips
    FROM (
        SELECT
            video_id,
            unnest(
                CASE WHEN len(coalesce(reasons, [])) = 0 THEN ['not_packed_yet'] ELSE reasons END
            ) AS reason
        FROM per_clip
        WHERE NOT in_shards
    )
    GROUP BY video_id, reason
)
SELECT
    p.video_id,
    count(*) AS clips,
    count(*) FILTER (WHERE p.in_shards) AS in_shards,
    count(*) FILTER (WHERE NOT p.in_shards) AS left_out,
    (
        SELECT string_agg(w.reason || ': ' || w.clips, ', ' ORDER BY w.reason)
        FROM why AS w
        WHERE w.video_id = p.video_id
    ) AS left_out_for
FROM per_clip AS p
GROUP BY p.video_id;
