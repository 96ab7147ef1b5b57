"""StreamFlow's operator package; importing it registers the kopf handlers (kopf run -m fraud_operator)."""

from fraud_operator import handlers as handlers
