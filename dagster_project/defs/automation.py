"""Declarative automation: what keeps the tokens, the shards and the catalog current in the UI.

The daemon's ``default_automation_condition_sensor`` (Automation tab; off until turned on,
like ``landing_sensor``) evaluates these conditions every 30 s:

- ``tokenizer_model``: trained once, when there is none and clips have arrived. After that
  only when asked (``tokenizer_job``, or the main job's ``--retrain-tokenizer``): training is
  a decision, not a side effect of ingesting a video.
- ``token_tensors``: ``eager``. A video's tokens are made when its clips change outside a
  run that makes them anyway (``video_job`` does), and every video's tokens are made again
  when ``tokenizer_model`` changes.
- ``training_shards`` and ``catalog``: after any video's clips, tokens or words changed, on
  the first tick on which nothing they read changed, is requested or is running (the
  tokens requested on the tick their clips or the tokenizer changed are running on the
  next one), so the re-encoding of every video after a retrain is followed by one shard
  refresh, not one per video. A video whose assets are missing (a bad file) does not hold
  them back, as it would with ``eager()``.
"""

import dagster as dg

FIRST_TOKENIZER = (
    dg.AutomationCondition.missing()
    & dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("train the first tokenizer once clips exist")

TOKENS = dg.AutomationCondition.eager()

AFTER_UPSTREAM_SETTLES = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_updated()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("a quiet tick after an upstream change, with nothing upstream running")
