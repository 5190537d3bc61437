CREATE OR REPLACE VIEW keyframes AS
SELECT * FROM read_parquet('tables/keyframes/*/part.parquet', hive_partitioning = true, union_by_name = true);
