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
promtool check config "$tmp/prometheus.yml"
promtool check rules testnet/prometheus/alerts.yml
promtool test rules testnet/prometheus/alerts_test.yml
echo "[prometheus] ok"
