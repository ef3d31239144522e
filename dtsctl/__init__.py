"""dtsctl: the operator's command line for Azure Durable Task Scheduler."""

__version__ = "0.1.0"
