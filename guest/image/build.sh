#!/bin/sh
# build.sh OUTDIR: build the verifying QEMU guest, OUTDIR/vmlinuz and
# OUTDIR/initramfs.gz, reproducibly (same inputs, same bytes) and cached
# (a step whose inputs' hashes match OUTDIR/.*.stamp is skipped).
#
# Needs: apt-get (Debian), dpkg, cpio, gzip, sha256sum, go. Installs
# busybox-static with apt-get when it is missing.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
out=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

need() { command -v "$1" >/dev/null 2>&1 || { echo "build.sh: $1 not found: $2" >&2; exit 1; }; }
need apt-get "this script builds the guest from Debian packages"
need dpkg "install dpkg"
need cpio "apt-get install cpio"
need gzip "apt-get install gzip"
need sha256sum "apt-get install coreutils"
need go "install Go"

# --- kernel: Debian's cloud kernel (virtio and 8250 serial built in) ------
meta=linux-image-cloud-amd64
kver=$(apt-cache policy "$meta" 2>/dev/null | awk '/Candidate:/ {print $2}')
if [ -z "$kver" ] || [ "$kver" = "(none)" ]; then
	apt-get update -qq
	kver=$(apt-cache policy "$meta" | awk '/Candidate:/ {print $2}')
fi
kstamp="$meta=$kver"
if [ -f "$out/vmlinuz" ] && [ "$(cat "$out/.kernel.stamp" 2>/dev/null)" = "$kstamp" ]; then
	echo "build.sh: kernel $kver up to date"
else
	echo "build.sh: fetching kernel $meta $kver"
	mkdir "$tmp/deb"
	fetch() {
		# Keep apt-get's own exit status (a pipe would report grep's).
		if (cd "$tmp/deb" && apt-get download "$1") >"$tmp/apt.log" 2>&1; then
			grep -v 'unsandboxed' "$tmp/apt.log" >&2 || true
		else
			cat "$tmp/apt.log" >&2
			return 1
		fi
	}
	# apt-get download does not pull dependencies; the meta package only
	# names the real image package.
	fetch "$meta" || { apt-get update -qq && fetch "$meta"; }
	real=$(dpkg-deb -f "$tmp"/deb/"$meta"_*.deb Depends | tr ',' '\n' | awk '/linux-image-[0-9]/ {print $1; exit}')
	[ -n "$real" ] || { echo "build.sh: cannot tell the kernel package from $meta" >&2; exit 1; }
	fetch "$real"
	dpkg -x "$tmp"/deb/"$real"_*.deb "$tmp/kx"
	cp "$tmp"/kx/boot/vmlinuz-* "$tmp/vmlinuz"
	mv "$tmp/vmlinuz" "$out/vmlinuz"
	echo "$kstamp" >"$out/.kernel.stamp"
fi

# --- busybox-static ------------------------------------------------------
if ! dpkg -s busybox-static >/dev/null 2>&1; then
	echo "build.sh: installing busybox-static"
	apt-get install -y -qq --no-install-recommends busybox-static
fi
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "build.sh: $busybox missing after installing busybox-static" >&2; exit 1; }

# --- init: our static Go program (go's own cache makes this cheap); no VCS
# stamp, so the bytes depend on the source, not on the commit -----------
(cd "$root" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags='-s -w' -o "$tmp/init" ./guest/image/init)

# --- initramfs: busybox + /init, fixed owners, modes and mtimes ----------
istamp=$(cat "$tmp/init" "$busybox" "$here/build.sh" | sha256sum | cut -d' ' -f1)
if [ -f "$out/initramfs.gz" ] && [ "$(cat "$out/.initramfs.stamp" 2>/dev/null)" = "$istamp" ]; then
	echo "build.sh: initramfs up to date"
	exit 0
fi
echo "build.sh: building initramfs"
r="$tmp/root"
mkdir -p "$r/bin" "$r/dev" "$r/proc" "$r/sys" "$r/tmp"
cp "$busybox" "$r/bin/busybox"
cp "$tmp/init" "$r/init"
for applet in sh ls cat mount umount dmesg free ps top sleep echo; do
	ln -s busybox "$r/bin/$applet"
done
find "$r" -type d -exec chmod 0755 {} +
chmod 0755 "$r/init" "$r/bin/busybox"
find "$r" -exec touch -h -d @0 {} +
(cd "$r" && find . -mindepth 1 | LC_ALL=C sort |
	cpio --quiet -o -H newc --reproducible --owner=0:0) | gzip -n -9 >"$tmp/initramfs.gz"
mv "$tmp/initramfs.gz" "$out/initramfs.gz"
echo "$istamp" >"$out/.initramfs.stamp"
ls -l "$out/vmlinuz" "$out/initramfs.gz"
