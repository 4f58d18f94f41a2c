#!/usr/bin/env bash
# pnpm release:dry: what a release would do, and nothing published. In a throw-away copy of
# the repository (pending changesets included, this tree untouched): `changeset version`
# (versions and CHANGELOG entries, printed as a diff), then `pnpm publish -r --dry-run`
# (each package built by its prepack, packed, and listed as it would be published).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PNPM=(npx -y pnpm@12.4.2)
COPY="$(mktemp -d "${TMPDIR:-/tmp}/wsguard-release-XXXXXX")"
trap 'rm -rf "$COPY"' EXIT

cd "$ROOT"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' file; do
  [ -e "$file" ] && printf '%s\0' "$file"
done | xargs -0 cp --parents -t "$COPY"

cd "$COPY"
git init -q && git add -A && git -c user.name=release-dry -c user.email=release-dry@localhost commit -qm 'before the release'
echo "# a copy of the repository in $COPY"
"${PNPM[@]}" install --frozen-lockfile --offline >/dev/null 2>&1 || "${PNPM[@]}" install --frozen-lockfile --prefer-offline >/dev/null

echo "# changeset version"
"${PNPM[@]}" changeset version
git --no-pager diff --stat
git --no-pager diff -- '*package.json' '*CHANGELOG.md'

echo "# pnpm publish -r --dry-run (nothing is sent to the registry)"
"${PNPM[@]}" publish -r --dry-run --no-git-checks --access public
