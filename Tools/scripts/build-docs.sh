#!/usr/bin/env bash
# Builds the API documentation (DocC) into .build/docs/Atelier.doccarchive, without the DocC
# plugin: the modules' symbol graphs from the compiler, then the toolchain's `docc convert`.
#   Tools/scripts/build-docs.sh            # the archive, with every warning printed
#   Tools/scripts/build-docs.sh --preview  # and serve it at http://localhost:8080
set -euo pipefail
cd "$(dirname "$0")/../.."
graphs=.build/docs/symbol-graphs
rm -rf .build/docs && mkdir -p "$graphs"
swift build --target Atelier -Xswiftc -emit-symbol-graph -Xswiftc -emit-symbol-graph-dir -Xswiftc "$graphs"
rm -f "$graphs"/KernelEmbedder*  # a build tool, not the library
command=(convert)
[ "${1:-}" = "--preview" ] && command=(preview)
docc "${command[@]}" Sources/Atelier/Atelier.docc --fallback-display-name Atelier \
  --fallback-bundle-identifier org.atelier.Atelier --additional-symbol-graph-dir "$graphs" \
  --output-path .build/docs/Atelier.doccarchive
echo "API documentation: .build/docs/Atelier.doccarchive"
