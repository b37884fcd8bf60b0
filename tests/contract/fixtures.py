"""Makes what the contract run's answers should carry real bodies of, in a private coffer: an
admin token, an ACTIVE simulated instance with a database and a user, a completed backup of it,
and a configuration group. Prints them as shell assignments."""

import json
import sys
import time
import urllib.request

URL, PASSWORD = sys.argv[1], sys.argv[2]


def call(method, path, body=None, token=None, expect=(200, 201, 202)):
    request = urllib.request.Request(URL + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("X-Auth-Token", token)
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status in expect, (method, path, response.status)
        text = response.read()
        return response.headers, json.loads(text) if text else None


def wait(path, key, token, wanted, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = call("GET", path, token=token)[1][key]["status"]
        if status == wanted:
            return
        assert status not in ("ERROR", "FAILED"), (path, status)
        time.sleep(0.5)
    raise SystemExit(f"{path} did not become {wanted}")


headers, body = call("POST", "/v3/auth/tokens", {"auth": {
    "identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": PASSWORD}}},
    "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
token = headers["X-Subject-Token"]
project = body["token"]["project"]["id"]
base = f"/v1.0/{project}"



def make_instance(name):
    made = call("POST", f"{base}/instances", {"instance": {
        "name": name, "flavorRef": "1", "volume": {"size": 1},
        "datastore": {"type": "simulated"},
        "databases": [{"name": "shop"}], "users": [{"name": "app", "password": "app-pass-1"}]}},
        token=token)[1]["instance"]["id"]
    wait(f"{base}/instances/{made}", "instance", token, "ACTIVE")
    return made


def make_backup(name, of):
    made = call("POST", f"{base}/backups", {"backup": {"name": name, "instance": of}},
                token=token)[1]["backup"]["id"]
    wait(f"{base}/backups/{made}", "backup", token, "COMPLETED")
    return made


def make_configuration(name):
    return call("POST", f"{base}/configurations", {"configuration": {
        "name": name, "values": {}, "datastore": {"type": "simulated"}}},
        token=token)[1]["configuration"]["id"]


# One of each for the reads and changes, and one of each for the deletes (which would take
# the first away from the operations that follow).
instance = make_instance("contract")
backup = make_backup("contract", instance)
configuration = make_configuration("contract")
doomed_instance = make_instance("contract-doomed")
doomed_backup = make_backup("contract-doomed", instance)
doomed_configuration = make_configuration("contract-doomed")
version = call("GET", f"{base}/datastores/simulated/versions", token=token)[1]["versions"][0]["id"]
parameters = call("GET", f"{base}/datastores/versions/{version}/parameters",
                  token=token)[1]["configuration-parameters"]
parameter = parameters[0]["name"] if parameters else "none"
# The reads' instance's server (an admin's view names it).
server = call("GET", f"{base}/instances/{instance}", token=token)[1]["instance"]["server_id"]

for name, value in [("COFFER_TOKEN", token), ("PROJECT_ID", project), ("INSTANCE_ID", instance),
                    ("BACKUP_ID", backup), ("CONFIGURATION_ID", configuration),
                    ("DOOMED_INSTANCE_ID", doomed_instance), ("DOOMED_BACKUP_ID", doomed_backup),
                    ("DOOMED_CONFIGURATION_ID", doomed_configuration),
                    ("VERSION_ID", version), ("PARAMETER", parameter), ("SERVER_ID", server)]:
    print(f"{name}={value}")
