-- One row per video: duration, scenes, short scenes, clips and their methods, and how many
-- clips are in the training shards and why the others are not (the video_shards view).
SELECT v.video_id,
       any_value(v.original_name) AS original_name,
       round(any_value(v.duration_s), 3) AS duration_s,
       (SELECT count(*) FROM scenes s WHERE s.video_id = v.video_id) AS scenes,
       (SELECT count(*) FROM scenes s WHERE s.video_id = v.video_id AND s.is_short) AS short_scenes,
       (SELECT count(*) FROM clips c WHERE c.video_id = v.video_id) AS clips,
       (SELECT count(*) FROM clips c WHERE c.video_id = v.video_id AND c.method = 'copy') AS copied,
       (SELECT coalesce(sum(c.leaked_frames), 0) FROM clips c WHERE c.video_id = v.video_id) AS leaked_frames,
       coalesce(any_value(vs.in_shards), 0) AS in_shards,
       coalesce(any_value(vs.left_out), 0) AS left_out,
       any_value(vs.left_out_for) AS left_out_for
FROM videos v
LEFT JOIN video_shards vs ON vs.video_id = v.video_id
GROUP BY v.video_id
ORDER BY v.video_id;
