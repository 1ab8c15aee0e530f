#!/bin/sh
# truc-broker-notify.sh - keepalived's notify script for an active-passive
# truc broker (keepalived.conf beside it; deploy/OPERATIONS.md,
# "Active-passive").
#   MASTER          make this machine the DRBD primary, mount the data
#                   directory, start the broker (the unit's drop-in
#                   deploy/ha/systemd/ha.conf orders it after the mount)
#   BACKUP|FAULT|STOP
#                   stop the broker (it commits and answers its open
#                   batch), unmount, become DRBD secondary
#   CHECK           keepalived's vrrp_script: where the data directory is
#                   mounted, the broker must answer `truc-admin status`;
#                   where it is not (the passive machine), nothing to check
# Each step is logged to the journal (logger -t truc-ha). A failed MASTER
# step stops there: better no broker than one on the wrong directory.
set -u
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RES=${TRUC_DRBD_RESOURCE:-truc}
DEV=${TRUC_DRBD_DEVICE:-/dev/drbd0}
DIR=${TRUC_DATA_MOUNT:-/var/lib/truc-broker}

log() { logger -t truc-ha "$*"; }

case "${1:-}" in
MASTER)
    log "becoming active: drbd $RES primary, mount $DIR, start truc-broker"
    # DRBD refuses to become primary while the peer still is (or, with
    # quorum, without a majority): then nothing else happens here.
    drbdadm primary "$RES" || { log "drbdadm primary $RES failed"; exit 1; }
    mountpoint -q "$DIR" || mount -o noatime "$DEV" "$DIR" || { log "mount $DIR failed"; exit 1; }
    systemctl start truc-broker || { log "truc-broker did not start"; exit 1; }
    ;;
BACKUP | FAULT | STOP)
    log "becoming passive ($1): stop truc-broker, unmount $DIR, drbd $RES secondary"
    systemctl stop truc-broker
    if mountpoint -q "$DIR"; then
        umount "$DIR" || { log "umount $DIR failed"; exit 1; }
    fi
    drbdadm secondary "$RES" || log "drbdadm secondary $RES failed"
    ;;
CHECK)
    mountpoint -q "$DIR" || exit 0
    runuser -u truc -- truc-admin --data-dir "$DIR" status >/dev/null 2>&1 || exit 1
    ;;
*)
    echo "usage: $0 MASTER|BACKUP|FAULT|STOP|CHECK" >&2
    exit 2
    ;;
esac
exit 0
