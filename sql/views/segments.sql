CREATE OR REPLACE VIEW segments AS
SELECT * FROM read_parquet('tables/segments/*/part.parquet', hive_partitioning = true, union_by_name = true)
-- Columns added since the first segments tables: NULL in partitions written before them.
UNION ALL BY NAME
SELECT CAST(NULL AS VARCHAR) AS detected_language, CAST(NULL AS DOUBLE) AS language_probability,
    CAST(NULL AS VARCHAR) AS text_input
WHERE false;
