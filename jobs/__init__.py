"""The job side of the back office: one enqueue helper, one runner, the worker bootstrap, pipelines.

Views enqueue jobs by dotted name (``jobs.<module>.<function>``) through
:func:`jobs.queue.enqueue`; jobs never import views. With ``REDIS_URL`` set a job goes to RQ and a
forking worker (``flask crm worker``) runs it; without it the same runner executes it inline, so
both modes share one code path. Either way the ``job_run`` table holds status and progress, so any
web process on any machine can show them.

This package imports nothing at load time: RQ imports ``jobs.runner`` in the worker, and pipeline
modules are imported by name, so an eager import here would only widen what every job pulls in.
"""
