"""Training shards: WebDataset tar files packed across videos, bucketed by shape.

A training job reads compressed clips sequentially from a few large files instead of
millions of small ones (decoded frames are hundreds of times larger than the stream-copied
clip), and draws each batch from one bucket so every clip in it has one shape.

One module per step (no Dagster anywhere); import from the module:

- :mod:`~video_assets.shards.candidates`: :func:`candidates_from_tables` turns catalog rows
  (clips, videos, words, segments, motion) and token files into one :class:`ShardSample`
  (:mod:`~video_assets.shards.sample`) per clip.
- :mod:`~video_assets.shards.transcripts`: which videos' transcripts are doubtful (the
  ``doubtful_transcripts`` check's rule); their words are withheld from the samples.
- :mod:`~video_assets.shards.selection`: :func:`select_samples` applies the
  :class:`ExclusionRules` (:mod:`~video_assets.shards.settings`); the result holds the kept
  samples and one row per (clip, reason) for every clip left out.
- :mod:`~video_assets.shards.plan`: buckets by resolution, aspect ratio and frame-count
  window, and packing into shards of at most ``target_bytes``.
- :mod:`~video_assets.shards.tar`: writing samples into tars under temporary names,
  renamed when complete; identical inputs give byte-identical tars.
- :mod:`~video_assets.shards.manifest`: ``manifest.json`` at the shard root lists every
  shard (bucket, sample keys, bytes, sha256), so :func:`verify_dir` works without the catalog.
- :mod:`~video_assets.shards.write`: :func:`write_shards` packs a list of samples from scratch.
- :mod:`~video_assets.shards.update`: :func:`refresh_shards` keeps a data root's shards
  current incrementally, judging only the videos whose inputs changed
  (:mod:`~video_assets.shards.stamps`) and copying unchanged samples from their old shard
  (:mod:`~video_assets.shards.stored`).
- :mod:`~video_assets.shards.compact`: :func:`compact_shards` merges small shards.
- :mod:`~video_assets.shards.tables`: the ``shards``, ``shard_samples`` and
  ``shard_exclusions`` catalog tables.
- :mod:`~video_assets.shards.verify`: :func:`verify_shards`, :func:`verify_dir`.
- :mod:`~video_assets.shards.training`: :func:`update_training_shards`, what the
  ``training_shards`` asset calls.
- :mod:`~video_assets.shards.schema`: member names, reasons, table schemas, :class:`ShardError`.

Sample members (WebDataset groups them by the key before the first dot):

    <key>.mp4          the clip file's bytes, never decoded or re-encoded: ``<key>.mkv``
                       for a clip in Matroska (a stream copy of a codec MP4 cannot hold)
    <key>.json         facts: video, scene, time range, fps, size, frames, bucket, checks
    <key>.words.json   words with clip-relative start/end, score, speaker, segment
                       (``[]`` where the video's transcript is doubtful)
    <key>.tokens.npy   int32 token ids (T', H', W'), present when the clip has tokens

Layout under the shard root::

    manifest.json
    <bucket>/<bucket>-000000.tar
"""
