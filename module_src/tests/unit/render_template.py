#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Render templates/nc_hosts.h.j2 the way the Ansible role will.

usage: render_template.py TEMPLATE OUT [key=value ...]
A value containing ',' is passed as a list (for netchannel_peers);
'[]' is an empty list.  StrictUndefined catches typos in the template.
"""

import sys

import jinja2


def main():
    tmpl, out = sys.argv[1], sys.argv[2]
    env = jinja2.Environment(  # noqa: S701 -- renders a C header, not HTML; autoescape must stay off
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    with open(tmpl, encoding="utf-8") as f:
        template = env.from_string(f.read())
    variables = {}
    for arg in sys.argv[3:]:
        key, val = arg.split("=", 1)
        if key == "netchannel_peers":
            variables[key] = [] if val == "[]" else val.split(",")
        else:
            variables[key] = val
    with open(out, "w", encoding="utf-8") as f:
        f.write(template.render(**variables))


if __name__ == "__main__":
    main()
