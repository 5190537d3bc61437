-- Clips of one video that dropped more than a share of their scene's frames (stream copy
-- starts on the first keyframe inside the scene and ends before the next one).
SELECT clip_id, scene_index, scene_end_frame - scene_start_frame AS scene_frames, lost_frames, method
FROM clips
WHERE video_id = $video_id
  AND lost_frames > $max_lost_share * (scene_end_frame - scene_start_frame)
ORDER BY scene_index;
