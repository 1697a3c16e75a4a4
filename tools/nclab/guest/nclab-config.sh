#!/bin/sh
# Applies this VM's lab identity at every boot, from the QEMU fw_cfg blob
# opt/nclab/config that `nclab up` passes in (key=value lines). Runs before
# the network and sshd, so the image itself holds no per-VM data.
set -eu
CFG=/sys/firmware/qemu_fw_cfg/by_name/opt/nclab/config/raw
modprobe qemu_fw_cfg 2>/dev/null || true
if [ ! -r "$CFG" ]; then
	echo "nclab-config: no $CFG, leaving the VM unconfigured" >&2
	exit 0
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

mkdir -p /run/systemd/network
cat > /run/systemd/network/10-nclab-mgmt.network <<NET
[Match]
MACAddress=$mgmt_mac
[Network]
Address=$mgmt_ip
LinkLocalAddressing=no
IPv6AcceptRA=no
NET
cat > /run/systemd/network/20-nclab-data.network <<NET
[Match]
MACAddress=$data_mac
[Network]
Address=$data_ip
LinkLocalAddressing=no
IPv6AcceptRA=no
NET

if [ -n "$ssh_key" ]; then
	install -d -m 700 /root/.ssh
	echo "$ssh_key" > /root/.ssh/authorized_keys
	chmod 600 /root/.ssh/authorized_keys
fi
echo "nclab-config: $hostname mgmt $mgmt_ip data $data_ip"
