#!/bin/sh
# mmdebstrap customize hook: turns the bootstrapped tree into a lab VM image.
# usage: customize.sh ROOT GUEST_DIR
set -eu
root=$1
guest=$2

install -m 755 "$guest/nclab-config.sh" "$root/usr/local/sbin/nclab-config"
install -m 755 "$guest/nclab-firstboot.sh" "$root/usr/local/sbin/nclab-firstboot"
install -m 755 "$guest/nclab-clock.sh" "$root/usr/local/sbin/nclab-clock"
install -m 644 "$guest/nclab-config.service" "$root/etc/systemd/system/nclab-config.service"
install -m 644 "$guest/nclab-firstboot.service" "$root/etc/systemd/system/nclab-firstboot.service"
install -m 644 "$guest/nclab-clock.service" "$root/etc/systemd/system/nclab-clock.service"
install -m 644 "$guest/nclab-clock.timer" "$root/etc/systemd/system/nclab-clock.timer"
install -m 644 "$guest/sshd-nclab.conf" "$root/etc/ssh/sshd_config.d/nclab.conf"
install -d "$root/etc/default/grub.d"
install -m 644 "$guest/grub-nclab.cfg" "$root/etc/default/grub.d/nclab.cfg"

# Only the ed25519 host key: it is the cheapest to use under emulation.
rm -f "$root"/etc/ssh/ssh_host_rsa_key* "$root"/etc/ssh/ssh_host_ecdsa_key*

cat > "$root/etc/fstab" <<FSTAB
LABEL=ncroot / ext4 errors=remount-ro,noatime 0 1
FSTAB
echo nclab > "$root/etc/hostname"

# Serial console logs in as root by itself: `nclab console HOST` is for debugging.
install -d "$root/etc/systemd/system/serial-getty@ttyS0.service.d"
cat > "$root/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf" <<UNIT
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %I \$TERM
UNIT

# Boot speed: a small initramfs with only what finds the root disk.
cat > "$root/etc/initramfs-tools/conf.d/nclab.conf" <<CONF
MODULES=list
COMPRESS=zstd
CONF
printf '%s\n' virtio_pci virtio_blk ext4 > "$root/etc/initramfs-tools/modules"
echo qemu_fw_cfg > "$root/etc/modules-load.d/nclab.conf"

chroot "$root" systemctl enable nclab-config.service nclab-firstboot.service nclab-clock.timer
chroot "$root" systemctl set-default multi-user.target
# Boot speed: nothing runs that the lab and the roles do not need (nclab-config
# sets the addresses itself, so no network daemon either).
chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
	e2scrub_reap.service fstrim.timer systemd-networkd.service systemd-networkd.socket \
	systemd-networkd-wait-online.service getty@tty1.service getty-static.service \
	systemd-timesyncd.service man-db.timer dev-hugepages.mount dev-mqueue.mount \
	sys-kernel-tracing.mount sys-fs-fuse-connections.mount sys-kernel-config.mount \
	modprobe@fuse.service modprobe@efi_pstore.service modprobe@loop.service \
	modprobe@dm_mod.service modprobe@drm.service modprobe@configfs.service \
	systemd-pstore.service systemd-journal-flush.service 2>/dev/null || true
chroot "$root" update-initramfs -u -k all
