"""The sandbox: everything that imitates the outside world, never part of the product.

Fake platform APIs (`sandbox.<platform>.fake`) and the pushes they send
(`sandbox.<platform>.pushes`), the customer simulator (`sandbox.simulator`) and the demo
wiring (`sandbox.demo`). `app/` and `channels/` never import it; `huiliu serve --demo`
and `huiliu simulate` load it by name, and tests use it freely.
"""
