#!/usr/bin/env python3
"""Adds lockfile entries for optional, platform-specific dependencies the npm registry proxy here does not serve.

The proxy this project's machines use serves only the linux-x64 builds of packages such as @swc/core-*, so
`npm install` leaves the other platforms' optional dependencies out of package-lock.json, and `npm ci` then refuses
the lockfile as out of sync. Recording them as optional entries restricted to a platform none of our machines has
lets `npm ci` skip them. Run after every `npm install` that changes the lockfile.
"""
import json, sys

path = sys.argv[1] if len(sys.argv) > 1 else 'package-lock.json'
with open(path) as f:
    lock = json.load(f)
packages = lock['packages']
added = 0
for key, entry in list(packages.items()):
    for dep, version in (entry.get('optionalDependencies') or {}).items():
        base = key + '/node_modules/' if key else 'node_modules/'
        # npm resolves from the nearest node_modules upwards; a hoisted copy counts.
        candidates = [base + dep, 'node_modules/' + dep]
        if any(c in packages for c in candidates):
            continue
        packages['node_modules/' + dep] = {
            'version': version.lstrip('^~='),
            'optional': True,
            # Never installable here: npm ci skips it instead of fetching it.
            'os': ['!linux', '!darwin', '!win32', '!freebsd', '!openbsd', '!sunos', '!android', '!aix'],
        }
        added += 1
lock['packages'] = dict(sorted(packages.items(), key=lambda kv: (kv[0] != '', kv[0])))
with open(path, 'w') as f:
    json.dump(lock, f, indent=2)
    f.write('\n')
print(f'complete-lockfile: added {added} optional platform entries', file=sys.stderr)
