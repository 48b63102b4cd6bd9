"""The Matrix transport: the engine as a bot on a Matrix homeserver, through matrix-nio on the engine's loop.

Modules: `session` (login, device, crypto store), `sync` (the sync loop that loses nothing),
`addressing` (which events the bot acts on), `render` (Markdown to Matrix HTML, threads, splitting),
`outbox` (delivery of stored replies), `events` (reactions, edits, redactions, membership),
`media` (files and images), `e2e` (encryption trust and undecryptable events), `state` (tables),
`transport` (ties them together). Importing this package does not import matrix-nio.
"""

from __future__ import annotations
