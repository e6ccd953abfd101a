# Rolling-update scenarios of scripts/e2e.sh (sourced by it; uses its helpers).
#
#   update      the demo app behind the ingress under a steady client; the owner updates
#               its image tag: time until every instance runs the new version and is
#               healthy (target <= 60 s), failed requests (goal 0, bar <= 0.1 %), and the
#               fewest healthy instances seen (must stay >= N - 1)
#   update-bad  an update to an image that never turns healthy: reverted on its own, the
#               app back at N healthy on the old version, and `app show` says why
#   update-kill the coordinator of a rollout is killed (with its containers) after the
#               first step: the rollout completes, and the app runs mixed versions for no
#               longer than the rollout deadline

# The demo spec with its web component on image tag $1, greeting $2 and, when given, the
# command $3 (a JSON array).
update_spec() {
    local tag=$1 greeting=$2 cmd=${3:-null}
    jq --arg t "$tag" --arg g "$greeting" --argjson c "$cmd" '
        .compose[0].repotag |= sub(":[^:/]*$"; ":" + $t)
        | .compose[0].environmentParameters = ["GREETING=" + $g]
        | if $c == null then . else .compose[0].commands = $c end' "$SPEC"
}

# Pushes the test busybox image under tag $1 too (the owner's "new image").
push_tag() {
    local reg=${FLUXNODE_TEST_REGISTRY:-127.0.0.1:5000} to
    to="$reg/fluxnode-test/busybox:$1"
    docker tag "$reg/fluxnode-test/busybox:latest" "$to" && docker push -q "$to" >/dev/null ||
        fail "could not push $to"
    # The local tag goes again; the nodes pull it from the registry.
    docker rmi "$to" >/dev/null 2>&1 || true
}

# `instances healthy-on-version other-healthy rollout-state` of app $1 at version $2, as
# node ${3:-1}'s API reports them.
rollout_sample() {
    tn_get "${3:-1}" "/api/v1/apps/$1" | jq -r --argjson v "$2" '
        [(.instance_health | map(select(.health == "healthy" and .version == $v)) | length),
         (.instance_health | map(select(.health == "healthy" and .version != $v)) | length),
         (.rollout.state // "none")] | @tsv'
}

scenario_update() {
    say "update: the owner updates the demo's image tag under a steady client"
    ensure_demo
    local port backend host url n
    port=$(jq '.compose[0].ports[0]' "$SPEC")
    backend="app_${APP}_$port" host="$APP.$TN_INGRESS_DOMAIN" url="http://$TN_INGRESS_ADDR/"
    n=$(jq '.instances' "$SPEC")
    ing_wait_servers "$backend" "$n" 60
    local tag="v$(date +%s)" spec dir
    push_tag "$tag"
    spec=$(mktemp --suffix .json)
    update_spec "$tag" "hello from fluxnode $tag" >"$spec"
    dir=$(mktemp -d /tmp/fluxnode-e2e-update.XXXXXX)
    local rate=20 duration=75 t0 tu
    python3 scripts/steady-client.py --url "$url" --host "$host" --rate "$rate" --duration "$duration" \
        --out "$dir/plain.log" >"$dir/plain.sum" 2>"$dir/plain.err" &
    local client=$!
    sleep 5
    tu=$(now_ms)
    "$tn" update "$spec" >"$dir/update.out" || fail "update: refused: $(cat "$dir/update.out")"
    local version
    version=$(app_status "$APP" | jq -r .version)
    echo "  $(cat "$dir/update.out")"
    # Every 250 ms: instances healthy on the new version, healthy on the old, rollout state.
    local done_ms="" fewest=$n new old state
    while [ $(($(now_ms) - tu)) -lt 90000 ]; do
        read -r new old state < <(rollout_sample "$APP" "$version")
        [ $((new + old)) -lt "$fewest" ] && fewest=$((new + old))
        if [ "$new" = "$n" ] && [ "$state" = done ]; then done_ms=$(($(now_ms) - tu)); break; fi
        sleep 0.25
    done
    wait "$client" || fail "update: the steady client failed: $(cat "$dir/plain.err")"
    [ -n "$done_ms" ] || fail "update: not all $n instances healthy on version $version after 90 s (last: $new new, $old old, rollout $state)"
    [ "$(count_running "$APP")" = "$n" ] || fail "update: $(count_running "$APP") instances run in Docker, wanted $n"
    local sent failed pct
    sent=$(grep -c . "$dir/plain.log")
    failed=$(awk '$3 != 200' "$dir/plain.log" | grep -c . || true)
    pct=$(awk -v f="$failed" -v s="$sent" 'BEGIN { printf "%.3f", 100 * f / s }')
    if [ "$failed" -gt 0 ]; then
        echo "  failed requests (start ms after the update, latency ms, status, error):"
        awk -v tu="$tu" '$3 != 200 { printf "    %+d %d %s %s\n", $1 - tu, $2, $3, $5 }' "$dir/plain.log" | head -20
    fi
    local answers
    answers=$(curl -fsS -m 3 -H "Host: $host" "$url") || fail "update: no answer through the ingress after the update"
    [[ "$answers" == *"$tag"* ]] || fail "update: the ingress answers '$answers', not the new version"
    echo "  client: $(cat "$dir/plain.sum"); the ingress now answers '$answers'"
    UPD_MS+=("$done_ms")
    result "update: all $n instances on the new version and healthy $(secs "$done_ms") s after the update (target <= 60 s); $failed of $sent requests failed ($pct %; bar <= 0.1 %); fewest healthy instances during the rollout $fewest (N - 1 = $((n - 1)))"
    [ "$fewest" -ge $((n - 1)) ] || fail "update: only $fewest healthy instances at one point, below N - 1"
    awk -v f="$failed" -v s="$sent" 'BEGIN { exit !(f * 1000 > s) }' && fail "update: $failed of $sent failed requests is above the 0.1 % bar"
    [ "$done_ms" -le 60000 ] || fail "update: $(secs "$done_ms") s is above the 60 s target"
    rm -rf "$dir" "$spec"
}

scenario_update_bad() {
    say "update-bad: an update whose web component never turns healthy is reverted"
    ensure_demo
    local n good tag spec dir
    n=$(jq '.instances' "$SPEC")
    good=$(app_status "$APP" | jq -r .target_version)
    wait_healthy_on "$good" "$n" 60 || fail "update-bad: $APP not at $n healthy on version $good before the update"
    tag="bad$(date +%s)"
    push_tag "$tag"
    spec=$(mktemp --suffix .json)
    # Runs, but never listens on its container port: the default probe (TCP) never passes.
    update_spec "$tag" "never served" '["sh","-c","trap \"exit 0\" TERM; sleep 3600 & wait"]' >"$spec"
    dir=$(mktemp -d /tmp/fluxnode-e2e-update.XXXXXX)
    local tu version
    tu=$(now_ms)
    "$tn" update "$spec" >"$dir/update.out" || fail "update-bad: refused: $(cat "$dir/update.out")"
    version=$(app_status "$APP" | jq -r .version)
    local reverted_ms="" fewest=$n new old state
    while [ $(($(now_ms) - tu)) -lt 180000 ]; do
        read -r new old state < <(rollout_sample "$APP" "$good")
        [ $((new + old)) -lt "$fewest" ] && fewest=$((new + old))
        if [ "$state" = reverted ] && [ "$new" = "$n" ]; then reverted_ms=$(($(now_ms) - tu)); break; fi
        sleep 0.5
    done
    local show
    show=$("$(tn_bin)" app show "$APP" --api "$(tn_api 1)")
    echo "$show" | sed 's/^/  /'
    [ -n "$reverted_ms" ] || fail "update-bad: not reverted to $n healthy on version $good within 180 s (last: $new on it, rollout $state)"
    local why
    why=$(echo "$show" | sed -n 's/^rollout: *//p')
    [[ "$why" == "reverted to version $good"* ]] || fail "update-bad: app show says '$why'"
    local on_bad
    on_bad=$(app_status "$APP" | jq --argjson v "$version" '[.instance_health[] | select(.version == $v)] | length')
    [ "$on_bad" = 0 ] || fail "update-bad: $on_bad instances still on the bad version $version"
    # The testnet's Prometheus saw the moves (there and back) and the revert.
    local moves reverts
    for _ in $(seq 1 30); do
        moves=$(prom_value 'sum(fluxnode_instance_moves_total)')
        reverts=$(prom_value 'sum(fluxnode_rollouts_reverted_total)')
        awk -v m="$moves" -v r="$reverts" 'BEGIN { exit !(m >= 2 && r >= 1) }' && break
        sleep 1
    done
    awk -v m="$moves" -v r="$reverts" 'BEGIN { exit !(m >= 2 && r >= 1) }' ||
        fail "update-bad: Prometheus: sum(fluxnode_instance_moves_total) = $moves (want >= 2), sum(fluxnode_rollouts_reverted_total) = $reverts (want >= 1)"
    result "update-bad: reverted, $n healthy on version $good again $(secs "$reverted_ms") s after the update; fewest healthy $fewest; Prometheus: $moves moves, $reverts reverts seen; app show: $why"
    [ "$fewest" -ge $((n - 1)) ] || fail "update-bad: only $fewest healthy instances at one point, below N - 1"
    rm -rf "$dir" "$spec"
}

# The rollout deadline the testnet runs with, in ms.
deadline_ms() {
    awk -v d="$FLUXNODE_TESTNET_ROLLOUT_DEADLINE" 'BEGIN { s = d + 0; if (d ~ /ms$/) print s; else if (d ~ /m$/) print s * 60000; else print s * 1000 }'
}

scenario_update_kill() {
    say "update-kill: the coordinator of a rollout dies after its first step"
    ensure_demo
    local n good tag spec dir tu version
    n=$(jq '.instances' "$SPEC")
    good=$(app_status "$APP" | jq -r .target_version)
    wait_healthy_on "$good" "$n" 60 || fail "update-kill: $APP not at $n healthy on version $good before the update"
    tag="v$(date +%s)k"
    push_tag "$tag"
    spec=$(mktemp --suffix .json)
    update_spec "$tag" "hello from fluxnode $tag" >"$spec"
    dir=$(mktemp -d /tmp/fluxnode-e2e-update.XXXXXX)
    tu=$(now_ms)
    "$tn" update "$spec" >"$dir/update.out" || fail "update-kill: refused: $(cat "$dir/update.out")"
    version=$(app_status "$APP" | jq -r .version)
    # The coordinator: the node whose rollouts_in_progress gauge is 1, once the first moved
    # instance is healthy on the new version.
    local coord="" first_new="" new old state i m
    while [ $(($(now_ms) - tu)) -lt 60000 ]; do
        read -r new old state < <(rollout_sample "$APP" "$version")
        [ -z "$first_new" ] && [ "$new" -gt 0 ] && first_new=$(now_ms)
        if [ "$new" -ge 1 ]; then
            for i in $(seq 1 "$nodes"); do
                m=$(curl -fsS -m 3 "$(tn_api "$i")/metrics" 2>/dev/null | awk '$1 == "fluxnode_rollouts_in_progress" { print $2 }')
                [ "$m" = 1 ] && coord=$i
            done
            [ -n "$coord" ] && break
        fi
        sleep 0.25
    done
    [ -n "$coord" ] || fail "update-kill: no node coordinating the rollout once an instance moved (new $new, rollout $state)"
    local obs=1
    [ "$coord" = 1 ] && obs=2
    echo "  first instance on the new version $(secs $((first_new - tu))) s after the update; killing the coordinator node$coord (observer node$obs)"
    local tk done_ms=""
    tk=$(now_ms)
    "$tn" kill "$coord"
    while [ $(($(now_ms) - tk)) -lt 180000 ]; do
        read -r new old state < <(rollout_sample "$APP" "$version" "$obs")
        if [ "$new" = "$n" ] && [ "$old" = 0 ] && [ "$state" = done ]; then done_ms=$(now_ms); break; fi
        sleep 0.5
    done
    [ -n "$done_ms" ] || fail "update-kill: the rollout did not complete within 180 s of the kill (new $new, old $old, rollout $state)"
    local mixed=$((done_ms - first_new)) deadline
    deadline=$(deadline_ms)
    result "update-kill: rollout completed $(secs $((done_ms - tk))) s after its coordinator was killed; mixed versions for $(secs "$mixed") s (deadline $(secs "$deadline") s)"
    [ "$mixed" -le "$deadline" ] || fail "update-kill: mixed versions for $(secs "$mixed") s, longer than the rollout deadline"
    "$tn" restart "$coord"
    tn_wait_ready "$nodes" 120 || fail "node$coord did not come back"
    wait_count "$APP" "$n" 60 >/dev/null || fail "after node$coord returned: not back to exactly $n"
    rm -rf "$dir" "$spec"
}

# Waits until $2 instances of the demo are healthy on version $1; fails after $3 s.
wait_healthy_on() {
    local v=$1 want=$2 t=$3 new old state
    for _ in $(seq 1 $((t * 2))); do
        read -r new old state < <(rollout_sample "$APP" "$v")
        [ "$new" = "$want" ] && return 0
        sleep 0.5
    done
    return 1
}

update_medians() {
    [ ${#UPD_MS[@]} -gt 1 ] || return 0
    result "update: median over ${#UPD_MS[@]} runs: all instances updated $(secs "$(printf '%s\n' "${UPD_MS[@]}" | median)") s after the update ($(for t in "${UPD_MS[@]}"; do printf '%s ' "$(secs "$t")"; done)s)"
}
