CREATE OR REPLACE VIEW clips AS
SELECT * FROM read_parquet('tables/clips/*/*.parquet', hive_partitioning = true, union_by_name = true);
