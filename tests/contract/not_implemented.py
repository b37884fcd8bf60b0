"""Prints a schemathesis [[operations]] section that accepts 501 (Trove's "not supported")
on exactly the operations whose documented responses list 501, read from the live document."""
import json
import sys
import urllib.request

with urllib.request.urlopen(sys.argv[1], timeout=10) as answer:
    document = json.load(answer)
ids = sorted(
    operation["operationId"]
    for item in document["paths"].values()
    for operation in item.values()
    if isinstance(operation, dict) and "501" in operation.get("responses", {})
)
if ids:
    print()
    print("[[operations]]")
    print("include-operation-id = " + json.dumps(ids))
    print('checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "501"]')
