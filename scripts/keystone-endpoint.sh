#!/usr/bin/env bash
# Point the Keystone catalog entry of service type container-infra at URL:
#   scripts/keystone-endpoint.sh http://127.0.0.1:19511/v1
# Makes exactly one public, one internal and one admin endpoint in RegionOne
# with that URL (updates in place, creates what is missing, deletes
# duplicates). Idempotent; talks to Keystone's REST API directly (well under a
# second, versus several for the openstack CLI). Needs curl and jq; Keystone and
# the container-infra service come from scripts/setup-services.sh keystone.
# Overridable: KEYSTONE_URL, KEYSTONE_REGION, KEYSTONE_ADMIN_PASSWORD.
set -euo pipefail

url=${1:?usage: $0 URL  (e.g. http://127.0.0.1:19511/v1)}
KS=${KEYSTONE_URL:-http://127.0.0.1:5000/v3}
REGION=${KEYSTONE_REGION:-RegionOne}
export no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}" NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"

auth=$(jq -nc --arg p "${KEYSTONE_ADMIN_PASSWORD:-admin-secret}" \
  '{auth:{identity:{methods:["password"],password:{user:{name:"admin",domain:{name:"Default"},password:$p}}},
         scope:{project:{name:"admin",domain:{name:"Default"}}}}}')
token=$(curl -sS -f -m 15 -o /dev/null -D - -H 'Content-Type: application/json' -d "$auth" \
  "$KS/auth/tokens?nocatalog" | awk 'tolower($1) == "x-subject-token:" { sub(/\r$/, "", $2); print $2 }')
[ -n "$token" ] || { echo "[keystone-endpoint] no admin token from $KS" >&2; exit 1; }

api() { # METHOD PATH [JSON]
  curl -sS -f -m 15 -X "$1" -H "X-Auth-Token: $token" -H 'Content-Type: application/json' \
    ${3:+-d "$3"} "$KS$2"
}

service=$(api GET '/services?type=container-infra' | jq -r '.services[0].id // empty')
[ -n "$service" ] || {
  echo "[keystone-endpoint] no container-infra service in $KS (run scripts/setup-services.sh keystone)" >&2
  exit 1
}
endpoints=$(api GET "/endpoints?service_id=$service" |
  jq -c --arg r "$REGION" '[.endpoints[] | select(.region_id == $r)]')

for iface in public internal admin; do
  mapfile -t ids < <(jq -r --arg i "$iface" '.[] | select(.interface == $i) | .id' <<<"$endpoints")
  if [ ${#ids[@]} -eq 0 ]; then
    api POST /endpoints "$(jq -nc --arg s "$service" --arg i "$iface" --arg u "$url" --arg r "$REGION" \
      '{endpoint:{service_id:$s, interface:$i, url:$u, region_id:$r, enabled:true}}')" >/dev/null
    action=created
  else
    if jq -e --arg id "${ids[0]}" --arg u "$url" \
        '.[] | select(.id == $id) | .url == $u and .enabled' >/dev/null <<<"$endpoints"; then
      action=unchanged
    else
      api PATCH "/endpoints/${ids[0]}" "$(jq -nc --arg u "$url" '{endpoint:{url:$u, enabled:true}}')" >/dev/null
      action=updated
    fi
    for id in "${ids[@]:1}"; do api DELETE "/endpoints/$id" >/dev/null; done
  fi
  echo "[keystone-endpoint] container-infra $iface ($REGION): $action $url"
done
