-- One row per video: duration, scenes, short scenes, clips and their methods.
SELECT v.video_id,
       any_value(v.original_name) AS original_name,
       round(any_value(v.duration_s), 3) AS duration_s,
       (SELECT count(*) FROM scenes s WHERE s.video_id = v.video_id) AS scenes,
       (SELECT count(*) FROM scenes s WHERE s.video_id = v.video_id AND s.is_short) AS short_scenes,
       (SELECT count(*) FROM clips c WHERE c.video_id = v.video_id) AS clips,
       (SELECT count(*) FROM clips c WHERE c.video_id = v.video_id AND c.method = 'copy') AS copied,
       (SELECT coalesce(sum(c.leaked_frames), 0) FROM clips c WHERE c.video_id = v.video_id) AS leaked_frames
FROM videos v
GROUP BY v.video_id
ORDER BY v.video_id;
