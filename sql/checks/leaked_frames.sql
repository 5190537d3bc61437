-- Clips of one video holding frames outside their scene (a frame of the neighbouring
-- shot), or whose source frame range crosses a scene boundary of the scene table.
SELECT c.clip_id, c.scene_index, c.start_frame, c.end_frame, c.leaked_frames, c.method
FROM clips AS c
JOIN scenes AS s ON s.video_id = c.video_id AND s.scene_index = c.scene_index
WHERE c.video_id = $video_id
  AND (c.leaked_frames > 0 OR c.start_frame < s.start_frame OR c.end_frame > s.end_frame)
ORDER BY c.scene_index;
