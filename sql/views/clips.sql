CREATE OR REPLACE VIEW clips AS
SELECT * FROM read_parquet('tables/clips/*/part.parquet', hive_partitioning = true, union_by_name = true)
-- Columns added since the first clips tables: NULL in partitions written before them.
UNION ALL BY NAME
SELECT CAST(NULL AS VARCHAR) AS container, CAST(NULL AS BIGINT) AS damaged_frames,
       CAST(NULL AS INTEGER) AS window_index WHERE false;
