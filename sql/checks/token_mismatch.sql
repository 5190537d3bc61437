-- Token tensors of one video that do not fit their clip or the current tokenizer:
-- a clip without tokens (or tokens without a clip), a frame count that differs from the
-- clip's, a grid that is not (1 + ceil((frames - 1) / temporal_stride), height / stride,
-- width / stride), a resized frame whose aspect ratio drifts from the video's by more than
-- one stride, or a checkpoint hash other than the current one.
-- Parameters: $video_id, $checkpoint_hash, $max_frames (0: whole clips are encoded).
WITH clip_frames AS (
    SELECT
        c.video_id,
        c.clip_id,
        -- Frames in the clip file: its source range less the frames that could not be decoded.
        CASE WHEN $max_frames > 0
             THEN least(c.end_frame - c.start_frame - coalesce(c.damaged_frames, 0), $max_frames)
             ELSE c.end_frame - c.start_frame - coalesce(c.damaged_frames, 0) END AS clip_frames
    FROM clips AS c
    WHERE c.video_id = $video_id
),
joined AS (
    SELECT
        coalesce(t.clip_id, c.clip_id) AS clip_id,
        c.clip_frames,
        t.frames, t.t, t.h, t.w, t.height, t.width, t.spatial_stride, t.temporal_stride, t.checkpoint_hash,
        1 + ceil((t.frames - 1) / t.temporal_stride)::BIGINT AS expected_t,
        v.width AS video_width,
        v.height AS video_height
    FROM (SELECT * FROM tokens WHERE video_id = $video_id) AS t
    FULL OUTER JOIN clip_frames AS c ON c.clip_id = t.clip_id
    LEFT JOIN videos AS v ON v.video_id = $video_id
)
SELECT
    clip_id, clip_frames, frames, t, h, w, height, width, expected_t, left(checkpoint_hash, 12) AS checkpoint,
    CASE
        WHEN t IS NULL THEN 'clip has no token tensor'
        WHEN clip_frames IS NULL THEN 'token tensor of a clip that does not exist'
        WHEN checkpoint_hash <> $checkpoint_hash THEN 'made by another checkpoint than the current one'
        WHEN frames <> clip_frames THEN 'frame count differs from the clip'
        WHEN t <> expected_t OR h * spatial_stride <> height OR w * spatial_stride <> width
            THEN 'grid does not match frames and strides'
        ELSE 'aspect ratio differs from the video'
    END AS problem
FROM joined
WHERE t IS NULL
   OR clip_frames IS NULL
   OR checkpoint_hash <> $checkpoint_hash
   OR frames <> clip_frames
   OR t <> expected_t
   OR h * spatial_stride <> height
   OR w * spatial_stride <> width
   OR abs(width - height * video_width::DOUBLE / video_height) > spatial_stride
ORDER BY clip_id;
