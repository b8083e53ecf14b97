"""Everything that is stored, and the only code that reads or writes it (the package name is
the product's; it holds far more than templates). A module map:

The database
    ``db``            the engine (SQLite file by default, PostgreSQL by URL), a session scope,
                      and the liveness ping
    ``models``        the tables, and ``UtcDateTime``: stored times come back aware, in UTC
    ``migrate``, ``migrations/``   the schema's history (Alembic), run by ``dunning-bandit migrate``
    ``prepared``      statements built once and run on the session's connection (the hot path)
    ``upsert``        atomic increments (INSERT .. ON CONFLICT), never read-modify-write
    ``locks``         one decision at a time per debtor

What is stored, one data-access module each
    ``catalog``       campaigns, templates (immutable versions, renditions), arms, segments
    ``log``           the decision log and policy snapshots, and the reads made of it
                      (contacts, opt-outs, first contacts, last touch, the CSV export)
    ``history``       what a decision needs of its debtors' past, in one statement: sends in
                      the caps' window, opt-outs, first contacts, the latest send (sequences)
    ``events_log``    events (idempotent on ``event_id``), outcomes counted once, opt-outs
    ``stored_events`` an event as stored (to tell a resend from another event), a decision's events
    ``slot_log``      send slots: statistics per (segment, arm, slot), events before the send, void
    ``guardrails``    guardrail evidence per arm, pauses and flags as lifecycle rows
    ``statistics``    the sufficient statistics a decision reads, and their rebuild from the log
    ``reports``       read-only aggregates for the dashboard
    ``idempotency``   stored answers to decide requests sent with an ``Idempotency-Key``
    ``keys``          API keys (only a hash of each secret), their scopes and last use

Templates: checked when registered, rendered when sent
    ``templating``    the one import for the rest of the code, and which rendition a locale gets
    ``validation``    every problem of a template at once, judged on what it renders
    ``sandbox``       the Jinja2 sandbox and the constructs it refuses
    ``rendering``     a rendition rendered for one debtor
    ``message_checks`` opt-out and SMS length of a rendered message
    ``sms``           GSM-7 / UCS-2 encoding and segments
    ``needs``         the variables a rendition needs from the caller

Imports ``bandit`` for the shared words and types (channels, day numbers, the locale
resolver, a debtor's latest send) and nothing else of ours; ``api`` passes it a session and
never writes SQL itself.
"""
