CREATE OR REPLACE VIEW scenes AS
SELECT * FROM read_parquet('tables/scenes/*/part.parquet', hive_partitioning = true, union_by_name = true);
