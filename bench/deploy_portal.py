"""A stand-in HubSpot portal for timing `sla deploy hubspot DIR --plan`: the three example
policies deployed into it, plus N foreign workflows (default 200). Prints the API URL and the
build folders, then serves until interrupted.

    python bench/deploy_portal.py --out /tmp/portal-builds &      # prints URL and folders
    HUBSPOT_ACCESS_TOKEN=pat-na1-0000-SECRET-TOKEN-1234 \\
        python -m sla_lang deploy hubspot /tmp/portal-builds/hubspot_scoring --api-url URL

The portal is tests/hubspot_fake.py (state kept in memory; request bodies are checked against
HubSpot's published schemas while the policies are deployed, not while serving the plans timed).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    from click.testing import CliRunner
    from pytest_httpserver import HTTPServer

    from sla_lang.cli import cli
    from tests.hubspot_fake import TOKEN, FakeHubSpot
    from tests.test_hubspot_deploy import seed_hubspot_properties

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--foreign", type=int, default=200)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = HTTPServer(host="127.0.0.1", port=args.port, threaded=True)
    server.start()
    fake = FakeHubSpot().install(server)
    url = server.url_for("").rstrip("/")
    folders = []
    for policy in sorted((REPO / "policies").glob("*.sla")):
        folder = args.out / policy.stem
        result = CliRunner().invoke(cli, ["build", str(policy), "-t", "hubspot", "-o", str(folder), "--isolated"])
        assert result.exit_code == 0, result.output
        folders.append(folder)
    seed_hubspot_properties(fake, *folders)
    for n in range(args.foreign):
        fake.add_foreign_flow(f"Marketing nurture {n}", enabled=n % 3 != 0)
    for folder in folders:
        result = CliRunner().invoke(cli, ["deploy", "hubspot", str(folder), "--apply", "--api-url", url],
                                    env={"HUBSPOT_ACCESS_TOKEN": TOKEN})
        assert result.exit_code == 0, result.output
    fake.validate = False  # from here on, time the client, not the stand-in's schema checks
    print(url, *folders, f"workflows={len(fake.flows)} properties={len(fake.properties)}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
