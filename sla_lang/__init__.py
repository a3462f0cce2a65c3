"""sla-lang: SLA-as-code for revenue teams."""

__version__ = "0.1.0"
