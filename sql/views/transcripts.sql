CREATE OR REPLACE VIEW transcripts AS
SELECT * FROM read_parquet('tables/transcripts/*/part.parquet', hive_partitioning = true, union_by_name = true);
