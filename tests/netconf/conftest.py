"""Fixtures of the datastore-layer tests (defined in ds_support, shared by name)."""

from ds_support import *  # noqa: F403
