"""The bus topics: every name a publisher and its subscribers agree on.

No stage, sink or API module imports another stage (or the runner) for a topic string:
they all take it from here.

* ``stats``: :class:`pipeline.events.StatEvent`, one per plugin sample (the runner);
* ``views``: :class:`pipeline.events.ViewsEvent`, the verdict on a judged sample (the
  threshold stage);
* ``alerts``: :class:`pipeline.events.AlertEvent`, one per transition of the events
  list (the alert stage).
"""

from __future__ import annotations

STATS_TOPIC = "stats"
VIEWS_TOPIC = "views"
ALERTS_TOPIC = "alerts"
