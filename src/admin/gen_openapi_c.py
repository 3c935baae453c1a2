#!/usr/bin/python3
"""Regenerate src/admin/openapi.c from docs/openapi.json (the source of truth
for the OpenAPI document the admin server serves at /api/v1/openapi.json).
Run from the repository root after editing docs/openapi.json:
    /usr/bin/python3 src/admin/gen_openapi_c.py
test_admin_http fails when the two disagree."""
import json
import os

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(root, "docs", "openapi.json")) as f:
    text = f.read()
json.loads(text)  # must be valid JSON
out = ["/* openapi.c - GENERATED from docs/openapi.json by src/admin/gen_openapi_c.py: the",
       " * OpenAPI 3.0 document served at /api/v1/openapi.json. Do not edit; edit the JSON",
       " * and regenerate (test_admin_http checks both are the same document). */",
       '#include "admin/admin.h"', "", "const char rmq_admin_openapi_json[] ="]
for line in text.splitlines(True):
    out.append("    " + json.dumps(line))
out[-1] += ";"
with open(os.path.join(root, "src", "admin", "openapi.c"), "w") as f:
    f.write("\n".join(out) + "\n")
