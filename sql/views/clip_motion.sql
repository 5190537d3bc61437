CREATE OR REPLACE VIEW clip_motion AS
SELECT * FROM read_parquet('tables/clip_motion/*/part.parquet', hive_partitioning = true, union_by_name = true);
