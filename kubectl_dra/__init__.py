"""kubectl-dra: see every Kubernetes DRA device, who holds it, and ask for GPUs by attribute."""

__version__ = "0.1.0"
