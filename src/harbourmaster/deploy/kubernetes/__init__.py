"""Kubernetes pieces of just-in-time pull credentials: the kubelet credential provider protocol
(:mod:`.credential_provider`, stdlib only, imported on every uncached pull) and the offline
verification of the pods' bound service-account tokens (:mod:`.sa_tokens`).

Nothing is imported here, so ``credential_provider`` stays cheap to import."""
