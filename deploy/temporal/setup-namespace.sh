#!/bin/sh
# temporal-setup job (temporalio/admin-tools): once the server answers, make sure c2c's namespace exists and has
# the custom search attributes the saga sets (finance filters the exception queue on them). Idempotent.
# Environment: TEMPORAL_ADDRESS (read by the temporal CLI), NAMESPACE, NAMESPACE_RETENTION,
# SEARCH_ATTRIBUTES ("Name=Type Name=Type ...", the saga's workflows/search_attributes.py).
set -eu

# Retry a command: the server can answer health checks before its namespace cache has caught up.
retry() {
    attempt=1
    until "$@"; do
        if [ "$attempt" -ge 30 ]; then
            echo "gave up after $attempt attempts: $*" >&2
            return 1
        fi
        attempt=$((attempt + 1))
        sleep 2
    done
}

serving() {
    temporal operator cluster health | grep -q SERVING
}

retry serving
if temporal operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1; then
    echo "namespace $NAMESPACE exists"
else
    temporal operator namespace create --namespace "$NAMESPACE" --retention "$NAMESPACE_RETENTION"
fi

for pair in $SEARCH_ATTRIBUTES; do
    name=${pair%%=*}
    type=${pair#*=}
    if retry temporal operator search-attribute list --namespace "$NAMESPACE" | grep -qw "$name"; then
        echo "search attribute $name exists"
    else
        retry temporal operator search-attribute create --namespace "$NAMESPACE" --name "$name" --type "$type"
    fi
done
echo "namespace $NAMESPACE is ready"
