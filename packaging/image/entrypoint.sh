#!/bin/sh
# The image's entrypoint: runs ashtray as the unprivileged user `ashtray`, with the group
# that owns the container engine's socket as its one extra group, so ash's compose
# snippet works unchanged (no `group_add:` to look up). Started as another user
# (`--user 1000 --group-add 999`), it runs ashtray as that user. ASHTRAY_RUN_AS=root
# keeps root (a socket only root may use, such as rootful Podman's 0600 one).
set -eu

socket="${DOCKER_HOST:-${CONTAINER_HOST:-unix:///var/run/docker.sock}}"
socket="${socket#unix://}"

if [ "$(id -u)" != 0 ] || [ "${ASHTRAY_RUN_AS:-ashtray}" = root ]; then
  exec ashtray "$@"
fi
# A volume mounted on the state directory comes owned by root.
chown ashtray:ashtray "$HOME" 2>/dev/null || true
if [ -S "$socket" ]; then
  groups="--groups=$(stat -c %g "$socket")"
else
  groups="--clear-groups"
fi
exec setpriv --reuid=ashtray --regid=ashtray "$groups" --inh-caps=-all -- ashtray "$@"
