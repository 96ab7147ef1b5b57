"""Stand-ins for the operators that do not run here: the Flink Kubernetes Operator and CloudNativePG.

Each writes what the real operator would write (status through the status subresource, CNPG's app
Secret), so our operator can be exercised against the real API server. Used by tests and the local demo
only; never by the operator itself.
"""
