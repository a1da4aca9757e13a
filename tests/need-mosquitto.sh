#!/bin/sh
# The MQTT tests start their own Mosquitto broker: make sure the binary is there.
# Installs it from the distribution's packages when it is missing (as root, or with
# sudo); otherwise says how, and fails.
if command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; then
    exit 0
fi
echo "mosquitto not found: installing it (the MQTT tests run a broker of their own)" >&2
if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq mosquitto && exit 0
elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq && sudo apt-get install -y -qq mosquitto && exit 0
fi
echo "please install Mosquitto (e.g. apt-get install -y mosquitto), then run the tests again" >&2
exit 1
