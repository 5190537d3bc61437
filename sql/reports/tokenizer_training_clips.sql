-- Clips the tokenizer is trained on: every clip that holds no frame of another shot, in a
-- fixed order (the training fingerprint lists them).
SELECT clip_id, path, bytes
FROM clips
WHERE leaked_frames = 0
ORDER BY clip_id
