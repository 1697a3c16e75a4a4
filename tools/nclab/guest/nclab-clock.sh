#!/bin/sh
# Keeps this VM's wall clock within 2 s of the host's, as NTP keeps a real fleet's: the lab
# has no time server, but QEMU's RTC reads the host's clock (-rtc base=utc,clock=host).
# Under software emulation the guest's own clock drifts, and it never sees the host's clock
# being stepped (say by NTP on a freshly booted CI machine); the experiments' preflight
# refuses hosts more than 10 s off. Run every 30 s by nclab-clock.timer.
set -eu
RTC=/sys/class/rtc/rtc0/since_epoch
if ! host=$(cat "$RTC" 2>/dev/null); then
	echo "nclab-clock: cannot read $RTC: the clock is not kept in step" >&2
	exit 1
fi
own=$(date -u +%s)
off=$((own - host))
if [ "$off" -gt 2 ] || [ "$off" -lt -2 ]; then
	# the RTC counts whole seconds: set the clock on its next tick, not up to 1 s late
	while [ "$(cat "$RTC")" = "$host" ]; do :; done
	date -u -s "@$((host + 1))" >/dev/null
	if [ "$off" -lt 0 ]; then
		echo "nclab-clock: the clock was $((-off)) s behind the host's; set to the host's"
	else
		echo "nclab-clock: the clock was $off s ahead of the host's; set to the host's"
	fi
fi
