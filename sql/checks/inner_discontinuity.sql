-- Clips of one video holding a transition that looks like a cut or a flash (a frame far less
-- like the one before it than its neighbours are): scene detection left it inside the clip.
-- worst_frame counts from the clip's first frame, worst_source_frame from the video's.
SELECT clip_id, worst_kind, worst_frame, worst_source_frame,
       round(worst_similarity, 3) AS worst_similarity, cuts, flashes
FROM clip_motion
WHERE video_id = $video_id AND cuts + flashes > 0
ORDER BY worst_similarity, clip_id;
