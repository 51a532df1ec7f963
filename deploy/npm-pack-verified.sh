# Sourced by the deploy/vendor-*.sh scripts: fetch one npm package and check it.
#
#   vendor_from_npm FILE SHA256 NAME VERSION SHA512_INTEGRITY [--check]
#
# With --check, only checks the committed FILE against SHA256 and ends the script.
# Otherwise makes a temporary TMP (removed on exit) and npm_pack_verified's the package
# into it, for the caller to copy from TMP/package.
#
#   npm_pack_verified NAME VERSION SHA512_INTEGRITY DIR
#
# Runs `npm pack NAME@VERSION` in DIR, compares the tarball with npm's sha512 integrity
# (`npm view NAME@VERSION dist.integrity`), unpacks it into DIR/package and stops the
# script if the tarball differs.
npm_pack_verified() {
  local name="$1" version="$2" integrity="$3" dir="$4"
  (cd "$dir" && npm pack "$name@$version" --silent >/dev/null)
  local tgz="$dir/$name-$version.tgz"
  local got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  if [[ "$got" != "$integrity" ]]; then
    echo "$name-$version.tgz integrity mismatch: $got" >&2
    exit 1
  fi
  tar -xzf "$tgz" -C "$dir"
}

vendor_from_npm() {
  local file="$1" sha256="$2" name="$3" version="$4" integrity="$5" mode="${6:-}"
  if [[ "$mode" == "--check" ]]; then
    echo "$sha256  $file" | sha256sum -c -
    exit 0
  fi
  TMP="$(mktemp -d)"
  trap 'rm -rf "$TMP"' EXIT
  npm_pack_verified "$name" "$version" "$integrity" "$TMP"
}
