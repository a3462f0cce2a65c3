"""Real CRM history as the simulator's events: `sla import`, and `sla report --from`.

`mapping.py` turns a contact's dated history into JSON Lines events through the HubSpot names
the policy declares; `hubspot_api.py` reads that history from the HubSpot API, `hubspot_csv.py`
from a contacts export; `rules.py` holds their diagnostics (SLA870).
"""
