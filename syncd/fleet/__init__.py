"""A fleet: many merchants' pools on one PostgreSQL database, their cycles spread over any
number of ``syncd worker`` processes by Procrastinate."""

from __future__ import annotations

from .pools import DEFAULT, Pool, add_pool, get_pool, list_pools, pool_engine, pool_settings, read_pool_file
from .status import FleetStatus, fleet_status

__all__ = ["DEFAULT", "FleetStatus", "Pool", "add_pool", "fleet_status", "get_pool", "list_pools", "pool_engine",
           "pool_settings", "read_pool_file"]
