-- Clips of one video the motion stage judged static (barely any motion anywhere, or nearly
-- every frame still) or a slideshow (still frames with a cut between them), by the
-- thresholds of MotionSettings it ran with. They are kept as rows; the shards leave them out.
SELECT clip_id, static_reason, camera, round(mean_motion_px, 3) AS mean_motion_px,
       round(patch_max_px, 3) AS patch_max_px, round(static_share, 3) AS static_share, cuts, method
FROM clip_motion
WHERE video_id = $video_id AND static_reason <> ''
ORDER BY mean_motion_px, clip_id;
