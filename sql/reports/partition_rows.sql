-- Rows of one video in the view $view: what a check's share of violating rows is taken of.
SELECT count(*)
FROM query_table($view)
WHERE video_id = $video_id
