-- The columns $columns (a list of names) of every row of the view $view.
SELECT COLUMNS(lambda c: list_contains($columns, c))
FROM query_table($view)
