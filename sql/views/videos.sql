CREATE OR REPLACE VIEW videos AS
SELECT * FROM read_parquet('tables/videos/*/part.parquet', hive_partitioning = true, union_by_name = true);
