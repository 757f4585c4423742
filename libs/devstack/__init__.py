"""The development stack: what `make run` and the tests start, never what production runs.

PostgreSQL, the Kafka-protocol broker and the SMTP and SMS sinks as local processes (`stack`),
every service as a process beside them (`devrun`), and the fixtures the tests share (`testing`).
Every development double lives here. The production image does not contain this package, and
nothing in `libs/common` or `services/` imports it (only their tests do).
"""
