#!/bin/sh
# The Grafana dashboard is valid JSON, and every truc_* metric it or the
# alerting rules use is one the daemons export: a renamed metric cannot
# leave a dead panel or an alert that never fires.
# Usage: check_dashboard.sh DASHBOARD.json BROKER_METRICS.c AGENT_METRICS.c ALERTS.yml
set -eu
dashboard=$1 broker=$2 agent=$3 alerts=$4
python3 -m json.tool "$dashboard" >/dev/null || { echo "$dashboard is not valid JSON" >&2; exit 1; }
status=0
for name in $(grep -oh 'truc_\(broker\|agent\)_[a-z0-9_]*' "$dashboard" "$alerts" | sort -u); do
    base=${name%_bucket}
    if ! grep -q "\"$base\"" "$broker" "$agent"; then
        echo "$name is used by the dashboard or the alerts but exported by neither daemon" >&2
        status=1
    fi
done
exit $status
