"""wolkvox-exporter: Prometheus metrics for Wolkvox outbound dialing campaigns."""

__version__ = "0.1.0"
