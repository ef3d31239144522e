"""Emulator support for dtsctl: the DTS emulator container and the local engine."""
