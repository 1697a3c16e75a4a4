#!/bin/sh
# Runs once, while the image is built: the image is booted directly with
# -kernel/-initrd and nclab.firstboot=1, installs GRUB on its own disk and
# powers off. From then on every boot goes through GRUB from the disk.
set -eu
echo "nclab-firstboot: installing GRUB on /dev/vda"
if grub-install --target=i386-pc /dev/vda && update-grub; then
	echo "grub-pc grub-pc/install_devices multiselect /dev/vda" | debconf-set-selections
	sync
	echo "NCLAB-FIRSTBOOT-OK"
else
	echo "NCLAB-FIRSTBOOT-FAILED"
fi
systemctl --no-block poweroff
