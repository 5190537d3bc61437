CREATE OR REPLACE VIEW segments AS
SELECT * FROM read_parquet('tables/segments/*/*.parquet', hive_partitioning = true, union_by_name = true);
