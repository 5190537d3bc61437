CREATE OR REPLACE VIEW words AS
SELECT * FROM read_parquet('tables/words/*/*.parquet', hive_partitioning = true, union_by_name = true);
