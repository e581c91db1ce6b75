"""The payment flow: everything that uses a gateway, through the ``PaymentGateway`` protocol only.

One module per job: :mod:`.plans` (what is sold), :mod:`.gateways` (live gateways per
connection, hidden when down), :mod:`.checkout` (a ``pending`` row, then the provider's
checkout), :mod:`.callbacks` (verify, store once, apply in one transaction),
:mod:`.apply` (events to payment and subscription state), :mod:`.reconcile` (what the
webhooks missed), :mod:`.override` (an admin's hand) and :mod:`.portal` (the provider's
billing page). Errors a caller may show are in :mod:`.errors`.
"""
