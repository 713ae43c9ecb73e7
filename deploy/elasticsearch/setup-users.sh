#!/bin/sh
# Run once by the es-setup service, as the elastic superuser: gives Kibana its
# built-in user's password and creates the `akhbar` user the search stage writes
# with, allowed only what the search sink does (install its index template,
# create and write the akhbar-articles-* indices, read them for `akhbar search`).
# Idempotent: a second run sets the same passwords and role again.
set -eu

ES_URL="${ES_URL:-http://elasticsearch:9200}"
: "${ELASTIC_PASSWORD:?}" "${KIBANA_PASSWORD:?}" "${SEARCH_WRITER_PASSWORD:?}"

request() {  # METHOD PATH JSON: prints the answer, fails unless it is 2xx
    status=$(curl --silent --show-error -o /tmp/answer -w '%{http_code}' \
        -u "elastic:${ELASTIC_PASSWORD}" -X "$1" "${ES_URL}$2" \
        -H 'Content-Type: application/json' -d "$3")
    cat /tmp/answer; echo
    case "$status" in 2??) ;; *) echo "$1 $2 answered $status" >&2; exit 1 ;; esac
}

until curl --silent --fail -u "elastic:${ELASTIC_PASSWORD}" "${ES_URL}/_cluster/health" >/dev/null; do
    echo "waiting for Elasticsearch at ${ES_URL}"
    sleep 5
done

request POST /_security/user/kibana_system/_password "{\"password\": \"${KIBANA_PASSWORD}\"}"
request PUT /_security/role/akhbar_writer '{
  "cluster": ["manage_index_templates", "monitor"],
  "indices": [{
    "names": ["akhbar-articles*"],
    "privileges": ["create_index", "write", "read", "view_index_metadata"]
  }]
}'
request PUT /_security/user/akhbar "{\"password\": \"${SEARCH_WRITER_PASSWORD}\", \"roles\": [\"akhbar_writer\"]}"
echo "users ready"
