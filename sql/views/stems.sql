CREATE OR REPLACE VIEW stems AS
SELECT * FROM read_parquet('tables/stems/*/*.parquet', hive_partitioning = true, union_by_name = true);
