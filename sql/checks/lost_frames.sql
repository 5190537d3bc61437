-- Scenes of one video whose clips dropped more than a share of the scene's frames (stream
-- copy starts on the first keyframe inside the scene and ends before the next one). A scene
-- cut into windows counts the frames all its windows lost.
SELECT min(clip_id) AS clip_id, scene_index,
       any_value(scene_end_frame - scene_start_frame) AS scene_frames,
       sum(lost_frames) AS lost_frames, string_agg(DISTINCT method, ',' ORDER BY method) AS method
FROM clips
WHERE video_id = $video_id
GROUP BY scene_index
HAVING sum(lost_frames) > $max_lost_share * any_value(scene_end_frame - scene_start_frame)
ORDER BY scene_index;
