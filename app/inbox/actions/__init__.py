"""The action modules: the only code that writes conversation rows and publishes events.

An *action module* is a module named `actions.py` or one inside an `actions/` package
(this one: conversations, inbound with its customer upsert in identities, assignment).
Each action changes rows and queues the events that describe the change on the
session; the caller's transaction commits both or neither (tests/test_actions_only.py
holds every other module to this).
"""
