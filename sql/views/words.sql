CREATE OR REPLACE VIEW words AS
SELECT * FROM read_parquet('tables/words/*/part.parquet', hive_partitioning = true, union_by_name = true)
-- Columns added since the first words tables: NULL in partitions written before them.
UNION ALL BY NAME
SELECT CAST(NULL AS VARCHAR) AS aligner WHERE false;
