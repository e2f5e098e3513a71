"""``python -m bot …``: the command line, a package by topic.

``core`` holds the top-level group and adds the commands of each topic module: ``database`` (schema, chains,
spool, retention, exports, settings), ``serve`` (the server, and simulate against it), ``users``, ``library``,
``jobs`` (delivery worker, deadline digest), ``classifiers`` (train, evaluate, classify, the reply checks) and
``dev`` (demo data, the fake WeChat API, run-all). Commands reach the app through Flask's app context: the core
group puts a ``ScriptInfo`` that builds it once on the click context, and ``with_appcontext`` pushes it.
"""
