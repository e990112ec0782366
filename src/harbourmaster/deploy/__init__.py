"""Deployment targets: the Docker Engine (standalone and Swarm) and Kubernetes, each behind a small
interface, and the Kubernetes pieces of just-in-time pull credentials (the kubelet credential provider
protocol, service-account token verification)."""
