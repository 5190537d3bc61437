-- The views the catalog defines, by name.
SELECT view_name
FROM duckdb_views()
WHERE NOT internal
ORDER BY 1
