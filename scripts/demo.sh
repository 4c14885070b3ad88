#!/usr/bin/env bash
# Fresh machine -> tracked synthetic thermal sequence with the shipped default model.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/bootstrap.sh"
exec "$root/.venv/bin/tir-tracker" demo --out "${1:-$root/out/demo}"
