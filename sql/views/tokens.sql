CREATE OR REPLACE VIEW tokens AS
SELECT * FROM read_parquet('tables/tokens/*/part.parquet', hive_partitioning = true, union_by_name = true);
