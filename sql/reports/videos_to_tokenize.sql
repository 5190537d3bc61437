-- Videos with a clip whose tokens are missing or were made by another checkpoint than the
-- current tokenizer ($checkpoint_hash): the main job encodes them again.
SELECT DISTINCT c.video_id
FROM clips AS c
LEFT JOIN tokens AS t ON t.video_id = c.video_id AND t.clip_id = c.clip_id
WHERE t.clip_id IS NULL OR t.checkpoint_hash IS DISTINCT FROM $checkpoint_hash
ORDER BY c.video_id;
