#!/usr/bin/env bash
# After tsc: what tsc does not emit. The dashboard's static files go beside the compiled
# router, and the CLI entry becomes executable (package.json "bin": switchyard).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ -d apps/router/src/ui/static ]]; then
  mkdir -p dist/apps/router/src/ui
  rm -rf dist/apps/router/src/ui/static
  cp -R apps/router/src/ui/static dist/apps/router/src/ui/
fi
chmod +x dist/apps/cli/src/main.js
# The stores' Lua scripts, read at run time from beside the compiled scripts.ts.
mkdir -p dist/libs/store/src
rm -rf dist/libs/store/src/lua
cp -R libs/store/src/lua dist/libs/store/src/
# The tests' log-folder rule is plain JavaScript (jest loads its reporter uncompiled); the
# fault suite reaches it through test/support from dist.
cp test/support/test-logs.js dist/test/support/
# The Open Inference Protocol's gRPC service definition, loaded at run time (libs/contracts/src/oip/grpc.ts).
mkdir -p dist/libs/contracts/oip/spec
cp libs/contracts/oip/spec/open_inference_grpc.proto dist/libs/contracts/oip/spec/
