#!/usr/bin/python3
"""Fails when a key of an etcd YAML config is not one etcd's config loader knows.

etcd 3.4 ignores unknown keys in its config file silently (a misspelt key just keeps its
default). The file is decoded into etcd's config struct by its JSON tags, and those tags are
in the binary as `json:"name"`; some keys (enable-grpc-gateway) are not in `etcd --help`.
The keys under client-transport-security and peer-transport-security are checked the same way.
"""
import re
import sys

import yaml

with open('/usr/bin/etcd', 'rb') as fh:
    known = {m.decode() for m in re.findall(rb'json:"([a-z0-9-]+)[,"]', fh.read())}
with open(sys.argv[1], encoding='utf-8') as fh:
    config = yaml.safe_load(fh)
unknown = [k for k in config if k not in known]
for section in ('client-transport-security', 'peer-transport-security'):
    unknown += [f'{section}.{k}' for k in config.get(section) or {} if k not in known]
if unknown:
    print(f'{sys.argv[1]}: keys etcd does not know: {", ".join(unknown)}', file=sys.stderr)
    sys.exit(1)
