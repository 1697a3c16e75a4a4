# SPDX-License-Identifier: GPL-2.0-only
"""Filters of the netchannel_module role (controller side, before any host changes)."""

from __future__ import annotations

from ansible_collections.netchannel.deploy.plugins.module_utils.netchannel_module import (
    group_addresses,
    validate_all,
)


def netchannel_module_errors(hosts: dict, group: dict) -> list[str]:
    """Every problem with the NetChannel settings of `hosts`, each naming host, variable and value."""
    return validate_all({k: dict(v) for k, v in hosts.items()}, {k: dict(v) for k, v in group.items()})


def netchannel_module_group(members: list, own: list, inventory: list) -> dict:
    """Group member -> {"ip": address used in this play, else the inventory's netchannel_data_ip}."""
    return group_addresses(list(members), list(own), list(inventory))


class FilterModule:
    def filters(self):
        return {
            "netchannel_module_errors": netchannel_module_errors,
            "netchannel_module_group": netchannel_module_group,
        }
