"""`make trigger SCHEDULE=<name> [AT=<time>]`: fire one of the template's schedules now on the running `make run`.

AT is the scheduled time it fires for (RFC 3339, UTC if it has no offset), as a test's clock
would set it: `make trigger SCHEDULE=SchedulerFunction.Tick AT=2026-11-24T02:00:00Z` runs the
night exports due at 03:00 in Rome that night.
"""
from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request


def main(argv: list[str]) -> int:
    if not argv or not argv[0]:
        print("usage: make trigger SCHEDULE=<name> [AT=<time>]  (e.g. SchedulerFunction.Tick, SweeperFunction.Sweep)", file=sys.stderr)
        return 2
    name, at = argv[0], (argv[1] if len(argv) > 1 else "")
    url = f"http://127.0.0.1:{os.environ.get('PORT', '3000')}/_local/schedules/{urllib.parse.quote(name)}"
    if at:
        url += "?" + urllib.parse.urlencode({"at": at})
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=300) as answer:
            print(json.dumps(json.load(answer), indent=2))
            return 0
    except urllib.error.HTTPError as err:
        print(err.read().decode(), file=sys.stderr)
        return 1
    except urllib.error.URLError as err:
        print(f"no local stack answers on {url}: {err.reason} (is `make run` running?)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
