#!/usr/bin/env bash
# Prepares what test/e2e/netem-qemu.test.ts needs to prove the agent's tc/netem commands on a real
# kernel that has sch_netem (the CI machines' own kernel has none): qemu-system-x86, busybox-static,
# iproute2 and util-linux on the host, plus Debian's current linux-image-6.1.0-*-amd64 kernel and
# the few modules the proof loads, cached under $FAULTLINE_NETEM_CACHE (default .tmp/netem-kernel,
# gitignored).
#
# Idempotent: when the cache already holds the kernel that linux-image-amd64 depends on, it only
# checks it. Needs root on a fresh machine (apt-get). Prints the prepared directory on success.
#
# Layout of the result ($FAULTLINE_NETEM_CACHE/current -> <release>/):
#   vmlinuz         the kernel
#   modules/*.ko    the modules below and every module they depend on (modinfo -F depends)
#   modules.load    their file names, dependencies first: the order to insmod them in
#   release         the kernel release, e.g. 6.1.0-57-amd64
#   ready           written last; a directory without it is incomplete
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CACHE=${FAULTLINE_NETEM_CACHE:-$FAULTLINE_ROOT/.tmp/netem-kernel}
# veth joins the two namespaces; sch_netem is what is being proven. The others are the qdiscs the
# agent's other tc command builders use (rate limiting), loaded so that their commands can be
# proven in the same boot.
MODULES=(veth sch_netem sch_tbf sch_htb sch_prio)

usage() { echo "usage: $0 [--force]   (env FAULTLINE_NETEM_CACHE, default .tmp/netem-kernel)"; }
force=0
for arg in "$@"; do
  case "$arg" in
  --force) force=1 ;;
  -h | --help)
    usage
    exit 0
    ;;
  *)
    usage >&2
    die "unknown argument: $arg"
    ;;
  esac
done

# --- host packages ---------------------------------------------------------------------------
need=()
have qemu-system-x86_64 || need+=(qemu-system-x86)
static_busybox || need+=(busybox-static)
[ -x /sbin/ip ] && [ -x /sbin/tc ] || need+=(iproute2)
have nsenter && have unshare || need+=(util-linux)
# Without recommends: qemu-system-x86 would pull in the GTK GUI, OVMF and more that a headless,
# BIOS-booted VM never uses (seabios and ipxe-qemu are hard dependencies).
[ "${#need[@]}" -eq 0 ] || FAULTLINE_APT_NO_RECOMMENDS=1 apt_install "${need[@]}"
have qemu-system-x86_64 || die "qemu-system-x86_64 is still missing after installing qemu-system-x86"
static_busybox || die "/bin/busybox is missing or not statically linked (package busybox-static)"
[ -x /sbin/ip ] && [ -x /sbin/tc ] || die "/sbin/ip or /sbin/tc is missing (package iproute2)"
have nsenter && have unshare || die "nsenter or unshare is missing (package util-linux)"

# --- which kernel ----------------------------------------------------------------------------
# The versioned package that the linux-image-amd64 metapackage currently depends on.
resolve_package() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n 1
}
pkg=$(resolve_package)
if [ -z "$pkg" ] && is_root && have apt-get; then
  apt_update_once
  pkg=$(resolve_package)
fi
if [ -z "$pkg" ]; then
  # No package lists (or no apt): a kernel prepared earlier is still good for the proof.
  if [ -f "$CACHE/current/ready" ]; then
    warn "cannot resolve linux-image-amd64 with apt-cache; using the cached kernel $(cat "$CACHE/current/release")"
    echo "$CACHE/current"
    exit 0
  fi
  die "cannot resolve the kernel package: 'apt-cache depends linux-image-amd64' names no linux-image-*-amd64 (run apt-get update as root)"
fi
release=${pkg#linux-image-}
dir="$CACHE/$release"

if [ "$force" -eq 0 ] && [ -f "$dir/ready" ]; then
  ln -sfn "$release" "$CACHE/current"
  log "netem kernel $release ready in $dir"
  echo "$dir"
  exit 0
fi

# --- download and extract --------------------------------------------------------------------
mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
log "apt-get download $pkg"
# As root, apt warns that the _apt user cannot write here ("unsandboxed"); harmless.
(cd "$work" && apt-get download -q "$pkg" 2>&1 | grep -v -i 'unsandboxed' || true)
deb=$(find "$work" -maxdepth 1 -name "${pkg}_*.deb" | head -n 1)
[ -n "$deb" ] || die "apt-get download $pkg produced no .deb (no network to the Debian mirror?)"
log "dpkg -x $(basename "$deb")"
dpkg -x "$deb" "$work/root"

vmlinuz="$work/root/boot/vmlinuz-$release"
[ -f "$vmlinuz" ] || die "$(basename "$deb") has no boot/vmlinuz-$release"
moddir=$(find "$work/root" -type d -path "*/modules/$release" | head -n 1)
[ -n "$moddir" ] || die "$(basename "$deb") has no lib/modules/$release"

# find_module NAME: the .ko file of a module (names may use - or _ interchangeably).
find_module() {
  local name="$1" alt
  alt=$(printf '%s' "$name" | tr '_-' '-_')
  find "$moddir/kernel" -type f \( -name "$name.ko" -o -name "$alt.ko" \) | head -n 1
}

# Depth-first over `modinfo -F depends`, so that every module comes after its dependencies.
declare -A seen=()
order=()
add_module() {
  local name="$1" file dep deps
  [ -n "${seen[$name]:-}" ] && return 0
  seen[$name]=1
  file=$(find_module "$name")
  [ -n "$file" ] || die "module $name.ko is not in $pkg (is it built in? check boot/config-$release)"
  deps=$(modinfo -F depends "$file")
  for dep in ${deps//,/ }; do
    add_module "$dep"
  done
  order+=("$file")
}
for module in "${MODULES[@]}"; do
  add_module "$module"
done

rm -rf "$dir"
mkdir -p "$dir/modules"
cp "$vmlinuz" "$dir/vmlinuz"
: >"$dir/modules.load"
for file in "${order[@]}"; do
  cp "$file" "$dir/modules/"
  basename "$file" >>"$dir/modules.load"
done
printf '%s\n' "$release" >"$dir/release"
printf '%s\n' "$pkg" "$(basename "$deb")" >"$dir/ready"
ln -sfn "$release" "$CACHE/current"
# Kernels prepared for earlier versions of the package are no longer needed.
find "$CACHE" -mindepth 1 -maxdepth 1 -type d ! -name "$release" ! -name '.work.*' -exec rm -rf {} +
log "netem kernel $release ready in $dir (modules: $(tr '\n' ' ' <"$dir/modules.load"))"
echo "$dir"
