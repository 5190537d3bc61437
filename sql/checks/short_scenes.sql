-- Scenes shorter than the minimum clip length for one video. They are kept as rows (so
-- the threshold can change without re-detection) and no clip is cut for them.
SELECT scene_index, start_frame, end_frame, round(start_s, 3) AS start_s, round(duration_s, 3) AS duration_s
FROM scenes
WHERE video_id = $video_id AND duration_s < $min_duration_s
ORDER BY scene_index;
