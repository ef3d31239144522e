"""The dashboard: a web page and the HTTP JSON API it is a client of (docs/dashboard-api.md).

- `bodies`: the API's request bodies, checked and typed (pure).
- `shapes`: dtsctl's records in the API's JSON shapes, and the equivalent `dtsctl` commands (pure).
- `backend`: `Backend`, one method per route; `GrpcBackend` answers them for any target through
  dtsctl's core (the local engine has a faster one of its own on the same interface).
- `api`: routing, body parsing, errors as the contract's codes.
- `server`: the HTTP server (stdlib), its security rules, and the page from `static/`.
"""
