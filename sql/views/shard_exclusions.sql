-- Why each clip was left out of the training shards: one row per (clip, reason). A clip
-- kept without its words (reason doubtful_transcript) has a row too; video_shards counts
-- it as in the shards.
CREATE OR REPLACE VIEW shard_exclusions AS
SELECT * FROM read_parquet('tables/shard_exclusions/*/part.parquet', hive_partitioning = true, union_by_name = true);
