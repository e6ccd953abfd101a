#!/usr/bin/env bash
# Checks the testnet's Prometheus configuration and alerting rules with promtool:
#   promtool check config  testnet/prometheus/prometheus.yml   (with a targets file)
#   promtool check rules   testnet/prometheus/alerts.yml
#   promtool test rules    testnet/prometheus/alerts_test.yml  (unit tests of every alert)
# Installs Debian's prometheus (for promtool) when absent.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v promtool >/dev/null 2>&1; then
    echo "[prometheus] installing Debian's prometheus for promtool"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
# The config reads targets/*.json beside it, written by scripts/testnet.sh at run time; check
# a copy with a targets file so the file_sd path is exercised too.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp testnet/prometheus/prometheus.yml testnet/prometheus/alerts.yml "$tmp/"
mkdir "$tmp/targets"
printf '[{"targets": ["127.0.10.%s:16127"], "labels": {"node": "node%s"}}]\n' 1 1 >"$tmp/targets/nodes.json"
mkdir "$tmp/targets/haproxy" "$tmp/targets/ingress"
echo '[{"targets": ["127.0.0.1:8404"]}]' >"$tmp/targets/haproxy/ingress.json"
echo '[{"targets": ["127.0.0.1:9180"]}]' >"$tmp/targets/ingress/ingress.json"
promtool check config "$tmp/prometheus.yml"
promtool check rules testnet/prometheus/alerts.yml
promtool test rules testnet/prometheus/alerts_test.yml

# Every query of the Grafana dashboard must parse: ask a throwaway Prometheus (empty TSDB,
# loopback only) to evaluate each one; a syntax error is an HTTP 400.
addr=127.0.0.1:19090
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
    --web.listen-address="$addr" >"$tmp/prometheus.log" 2>&1 &
prom_pid=$!
trap 'kill $prom_pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 1 100); do curl -fsS "http://$addr/-/ready" >/dev/null 2>&1 && break; sleep 0.1; done
bad=0 count=0
while IFS= read -r expr; do
    count=$((count + 1))
    out=$(curl -sS "http://$addr/api/v1/query" --data-urlencode "query=$expr")
    if [ "$(jq -r .status <<<"$out")" != success ]; then
        echo "dashboard query does not parse: $expr: $(jq -r .error <<<"$out")" >&2
        bad=1
    fi
done < <(jq -r '.panels[] | .targets[]?.expr' testnet/grafana/dashboard.json)
[ "$bad" = 0 ] || exit 1
echo "[prometheus] dashboard: $count queries parse"
echo "[prometheus] ok"
