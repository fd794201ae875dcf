#!/bin/sh
# The sample app's entrypoint: serve this directory on port 8080.
exec python3 -m http.server 8080 --directory /app
