-- Training shards, one row per tar: path under the shard root, bucket (resolution, aspect
-- ratio, frame-count window), sample keys, bytes, sha256. Unpartitioned: the shards pack
-- clips of every video, so the table is one file written by the training_shards asset.
CREATE OR REPLACE VIEW shards AS
SELECT * FROM read_parquet('tables/shards/part.parquet');
