CREATE OR REPLACE VIEW speaker_turns AS
SELECT * FROM read_parquet('tables/speaker_turns/*/part.parquet', hive_partitioning = true, union_by_name = true);
