"""nclab: a local lab of Debian 12 QEMU VMs for testing the NetChannel collection."""

__version__ = "0.1.0"
