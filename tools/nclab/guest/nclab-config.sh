#!/bin/sh
# Applies this VM's lab identity at every boot, from the QEMU fw_cfg blob
# opt/nclab/config that `nclab up` passes in (key=value lines). Runs before
# the network and sshd, so the image itself holds no per-VM data.
set -eu
FWCFG=/sys/firmware/qemu_fw_cfg/by_name/opt/nclab/config/raw
SAVED=/etc/nclab/config
modprobe qemu_fw_cfg 2>/dev/null || true
if [ -r "$FWCFG" ]; then
	CFG=$FWCFG
	mkdir -p /etc/nclab
	cp "$FWCFG" "$SAVED.tmp" && mv "$SAVED.tmp" "$SAVED"
elif [ -r "$SAVED" ]; then
	# A kernel without fw_cfg support (say, a small test kernel): keep the
	# identity this VM had on its last boot that could read it.
	echo "nclab-config: no $FWCFG in this kernel, using $SAVED" >&2
	CFG=$SAVED
else
	echo "nclab-config: neither $FWCFG nor $SAVED: the VM stays unconfigured" >&2
	exit 1
fi

hostname= mgmt_mac= mgmt_ip= data_mac= data_ip= ssh_key= hosts=
while IFS='=' read -r key value; do
	case "$key" in
	hostname) hostname=$value ;;
	mgmt_mac) mgmt_mac=$value ;;
	mgmt_ip) mgmt_ip=$value ;;
	data_mac) data_mac=$value ;;
	data_ip) data_ip=$value ;;
	ssh_key) ssh_key=$value ;;
	hosts) hosts=$value ;;
	esac
done < "$CFG"

if [ -n "$hostname" ]; then
	echo "$hostname" > /etc/hostname
	hostname "$hostname"
fi
{
	echo "127.0.0.1 localhost"
	echo "127.0.1.1 $hostname"
	for entry in $hosts; do
		echo "${entry#*=} ${entry%%=*}"
	done
} > /etc/hosts

# Addresses are set here rather than by a network daemon: under software
# emulation every service costs seconds of boot. Interfaces are found by MAC.
modprobe virtio_net 2>/dev/null || true
iface_of() {
	for dev in /sys/class/net/*; do
		if [ "$(cat "$dev/address")" = "$1" ]; then
			basename "$dev"
			return 0
		fi
	done
	return 1
}
configure() {
	mac=$1 addr=$2 tries=0
	until dev=$(iface_of "$mac"); do
		tries=$((tries + 1))
		if [ "$tries" -gt 100 ]; then
			echo "nclab-config: no interface with MAC $mac" >&2
			return 1
		fi
		sleep 0.1
	done
	sysctl -q -w "net.ipv6.conf.$dev.disable_ipv6=1" || true
	ip addr flush dev "$dev"
	ip addr add "$addr" dev "$dev"
	ip link set dev "$dev" up
}
ip link set dev lo up
configure "$mgmt_mac" "$mgmt_ip"
configure "$data_mac" "$data_ip"

if [ -n "$ssh_key" ]; then
	install -d -m 700 /root/.ssh
	echo "$ssh_key" > /root/.ssh/authorized_keys
	chmod 600 /root/.ssh/authorized_keys
fi
echo "nclab-config: $hostname mgmt $mgmt_ip data $data_ip"
