# Sourced by the deploy/vendor-*.sh scripts: fetch one npm package and check it.
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
