CREATE OR REPLACE VIEW stems AS
SELECT * FROM read_parquet('tables/stems/*/part.parquet', hive_partitioning = true, union_by_name = true)
-- Columns added since the first stems tables: NULL in partitions written before them.
UNION ALL BY NAME
SELECT CAST(NULL AS VARCHAR) AS origin WHERE false;
