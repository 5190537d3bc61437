-- Where each kept clip went: its shard, bucket and position in the shard. Partitioned by
-- video (one partition per video whose clips were judged for the shards).
CREATE OR REPLACE VIEW shard_samples AS
SELECT * FROM read_parquet('tables/shard_samples/*/part.parquet', hive_partitioning = true, union_by_name = true);
