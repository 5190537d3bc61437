CREATE OR REPLACE VIEW tokens AS
SELECT * FROM read_parquet('tables/tokens/*/*.parquet', hive_partitioning = true, union_by_name = true);
