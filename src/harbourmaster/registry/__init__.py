"""Registry connectivity: the OCI distribution protocol, its authentication and TLS."""
