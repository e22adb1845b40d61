#!/usr/bin/env bash
# Builds the local test image faultline-test/busybox:1 without any registry: a static busybox,
# applet symlinks, and /www/index.html ("ok") served by `httpd -f -p 80 -h /www`.
# Skips when the image exists, unless --force. Checks the result by serving one request.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IMAGE=faultline-test/busybox:1
APPLETS=(sh httpd sleep nc cat echo ls ps kill mkdir wget dd head true false seq sed grep date env id ip ping)

force=0
for arg in "$@"; do
  case "$arg" in
  --force) force=1 ;;
  -h | --help)
    echo "usage: $0 [--force]"
    exit 0
    ;;
  *) die "unknown argument: $arg (usage: $0 [--force])" ;;
  esac
done

docker_ready || die "the Docker engine does not answer; run scripts/ensure-docker.sh first"

if [ "$force" -eq 0 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "image $IMAGE exists (use --force to rebuild)"
  exit 0
fi

static_busybox || die "/bin/busybox is missing or not statically linked; run scripts/ensure-docker.sh (installs busybox-static)"

workdir=$(mktemp -d "${TMPDIR:-/tmp}/faultline-image.XXXXXX")
verify_name="fl-test-image-check-$$"
cleanup() {
  rm -rf "$workdir"
  docker rm -f "$verify_name" >/dev/null 2>&1 || true
}
trap cleanup EXIT

root="$workdir/rootfs"
mkdir -p "$root/bin" "$root/www" "$root/tmp" "$root/etc" "$root/root"
chmod 1777 "$root/tmp"
cp /bin/busybox "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"
for applet in "${APPLETS[@]}"; do
  ln -s busybox "$root/bin/$applet"
done
printf 'ok\n' >"$root/www/index.html"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"

log "importing $IMAGE"
tar -C "$root" --numeric-owner --owner=0 --group=0 -c . |
  docker import \
    -c 'CMD ["/bin/httpd","-f","-p","80","-h","/www"]' \
    -c 'EXPOSE 80' \
    -c 'ENV PATH=/bin' \
    - "$IMAGE" >/dev/null

# Check: the image serves "ok" on a port published on loopback.
log "checking $IMAGE serves HTTP"
docker run -d --name "$verify_name" --label faultline.test=1 -p 127.0.0.1::80 "$IMAGE" >/dev/null
hostport=$(docker port "$verify_name" 80/tcp | grep -m1 '^127\.0\.0\.1:' | cut -d: -f2)
[ -n "$hostport" ] || die "no published port for the check container"
fetch() {
  local body
  exec 3<>"/dev/tcp/127.0.0.1/$hostport" || return 1
  printf 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  body=$(cat <&3)
  exec 3<&-
  [[ "$body" == *$'\r\n\r\nok'* ]]
}
wait_until 15 "test image answers" fetch || die "the test image did not answer \"ok\" on 127.0.0.1:$hostport"
log "image $IMAGE ready"
