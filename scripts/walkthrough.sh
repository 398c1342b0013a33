#!/usr/bin/env bash
# The README's curl walk-through, as one script: an application for 南园花园
# goes from draft to approved through every tier, then the other paths are
# exercised (return and resubmit, reject, withdraw).
#
# Usage: start the server (`make run`), then: ./scripts/walkthrough.sh [base-url]
# Needs curl and python3. Exits non-zero at the first unexpected answer.
set -euo pipefail
API=${1:-http://127.0.0.1:8080}/api/v1
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT

# json EXPR: read JSON on stdin, print EXPR evaluated on it as `d`.
json() { python3 -c "import sys, json; d = json.load(sys.stdin); print($1)"; }
# login USER: print a bearer token for a demo account.
login() {
  curl -sf -X POST "$API/auth/dev-login" -H 'Content-Type: application/json' \
    -d "{\"username\":\"$1\"}" | json 'd["token"]'
}
# call TOKEN METHOD PATH [BODY]: print the JSON answer; fail on a 4xx/5xx.
call() {
  local args=(-sS -X "$2" "$API$3" -H "Authorization: Bearer $1" -w '\n%{http_code}')
  [ $# -ge 4 ] && args+=(-H 'Content-Type: application/json' -d "$4")
  local out code
  out=$(curl "${args[@]}")
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  if [ "$code" -ge 400 ]; then echo "$2 $3 -> $code $out" >&2; return 1; fi
  printf '%s\n' "$out"
}
version() { call "$1" GET "/applications/$2" | json 'd["version"]'; }
state() { call "$1" GET "/applications/$2" | json 'd["state"]'; }
# upload TOKEN APP KIND CONTENT-TYPE FILE: ask for an upload URL, then PUT the bytes there.
upload() {
  local size ticket url
  size=$(stat -c %s "$5")
  ticket=$(call "$1" POST "/applications/$2/documents" \
    "{\"kind\":\"$3\",\"fileName\":\"$(basename "$5")\",\"contentType\":\"$4\",\"size\":$size}")
  url=$(echo "$ticket" | json 'd["upload"]["url"]')
  curl -sf -X PUT "$url" -H "Content-Type: $4" --data-binary "@$5" | json 'd["status"]'
}
# a minimal PDF and PNG to upload
printf '%%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%%%EOF\n' > "$DIR/contract.pdf"
printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\x90wS\xde' > "$DIR/area.png"

echo "== 1. company-a signs in and sees its profile"
COMPANY=$(login company-a)
call "$COMPANY" GET /company | json 'd["name"], d["creditCode"], d["bankAccount"]["accountNumberMasked"]'

echo "== 2. it registers a new project in 南园社区 (440304001020)"
PROJECT=$(call "$COMPANY" POST /projects '{"name":"南园新村","address":"福田区南园路 100 号","community":"440304001020","managedArea":"12345.67","managerName":"王项目经理","managerPhone":"13800138001"}' | json 'd["id"]')
echo "project $PROJECT"

echo "== 3. it creates an application, uploads the proof documents and submits"
APP=$(call "$COMPANY" POST /applications "{\"projectId\":\"$PROJECT\"}" | json 'd["id"]')
echo "application $APP: $(call "$COMPANY" GET "/applications/$APP" | json 'd["claimedArea"] + " m² → " + d["claimedAmount"] + " yuan"')"
upload "$COMPANY" "$APP" service_contract application/pdf "$DIR/contract.pdf"
upload "$COMPANY" "$APP" area_proof image/png "$DIR/area.png"
call "$COMPANY" POST "/applications/$APP/submit" "{\"version\":$(version "$COMPANY" "$APP")}" | json 'd["state"]'

echo "== 4. the project manager confirms the area"
PM=$(login pm-a)
call "$PM" GET /manager/inbox | json '[a["id"] for a in d["items"]]'
call "$PM" POST "/applications/$APP/confirm-area" "{\"version\":$(version "$PM" "$APP")}" | json 'd["state"]'

echo "== 5. community 初审, subdistrict 复核, district 审核"
sleep 1 # the dispatcher records pre-checks as the application arrives at each tier
for pair in community:community-nanyuan subdistrict:subdistrict-nanyuan district:district-futian; do
  tier=${pair%%:*}; user=${pair#*:}
  T=$(login "$user")
  call "$T" GET "/review/$tier/inbox" | json '[a["id"] for a in d["items"]]'
  if [ "$tier" = subdistrict ]; then
    body="{\"version\":$(version "$T" "$APP"),\"approvedArea\":\"12000.00\",\"reason\":\"扣除商铺面积 345.67 平方米\"}"
  else
    body="{\"version\":$(version "$T" "$APP")}"
  fi
  call "$T" POST "/review/$tier/applications/$APP/approve" "$body" | json 'd["state"]'
done

echo "== 6. approved, with the amount to the fen, and the audit timeline"
call "$COMPANY" GET "/applications/$APP" | json 'd["state"], d["approvedArea"], d["approvedAmount"], d["approvedAmountFen"]'
call "$COMPANY" GET "/applications/$APP/timeline" | json '"\n".join(e["at"][:19] + " " + e["role"] + " " + e["action"] + " " + str(e["from"]) + " -> " + e["to"] + " " + e["hash"][:12] for e in d)'
[ "$(state "$COMPANY" "$APP")" = approved ]

echo "== 7. return for correction (退回补正), edit, resubmit: back to community"
APP2=$(call "$COMPANY" POST /applications "{\"projectId\":\"$(call "$COMPANY" GET /projects | json '[p["id"] for p in d["items"] if p["name"] == "南园大厦"][0]')\"}" | json 'd["id"]')
upload "$COMPANY" "$APP2" service_contract application/pdf "$DIR/contract.pdf"
upload "$COMPANY" "$APP2" area_proof image/png "$DIR/area.png"
call "$COMPANY" POST "/applications/$APP2/submit" "{\"version\":$(version "$COMPANY" "$APP2")}" >/dev/null
call "$PM" POST "/applications/$APP2/confirm-area" "{\"version\":$(version "$PM" "$APP2")}" >/dev/null
CT=$(login community-nanyuan)
call "$CT" POST "/review/community/applications/$APP2/return" "{\"version\":$(version "$CT" "$APP2"),\"reason\":\"服务合同缺少盖章页\"}" | json 'd["state"], d["lastDecision"]["reason"]'
call "$COMPANY" PATCH "/applications/$APP2" "{\"version\":$(version "$COMPANY" "$APP2"),\"note\":\"已补充盖章页\"}" >/dev/null
call "$COMPANY" POST "/applications/$APP2/submit" "{\"version\":$(version "$COMPANY" "$APP2")}" | json 'd["state"], "round", d["round"]'
[ "$(state "$COMPANY" "$APP2")" = pending_community ]

echo "== 8. reject (terminal, with a reason)"
call "$CT" POST "/review/community/applications/$APP2/reject" "{\"version\":$(version "$CT" "$APP2"),\"reason\":\"非住宅项目\"}" | json 'd["state"]'

echo "== 9. withdraw (by the company, before the district decides)"
B=$(login company-b)
APP3=$(call "$B" POST /applications "{\"projectId\":\"$(call "$B" GET /projects | json 'd["items"][0]["id"]')\"}" | json 'd["id"]')
call "$B" POST "/applications/$APP3/withdraw" "{\"version\":$(version "$B" "$APP3"),\"reason\":\"重复申报\"}" | json 'd["state"]'

echo "== 10. a sibling community sees nothing: 404"
code=$(curl -s -o /dev/null -w '%{http_code}' "$API/applications/$APP" -H "Authorization: Bearer $(login community-nanhua)")
echo "community-nanhua GET /applications/$APP -> $code"
[ "$code" = 404 ]
echo "== 11. live totals (汇总) of the city, and 福田区's summary report (汇总表) as CSV"
sleep 1 # the dispatcher counts each change as it commits
CITY=$(login city)
call "$CITY" GET /stats/440300 | json '"companies", d["totals"]["companies"], "projects", d["totals"]["projects"], "approved yuan", d["totals"]["approvedAmount"]'
curl -sf "$API/stats/440304/report?format=csv" -H "Authorization: Bearer $CITY" -o "$DIR/futian.csv"
python3 -c 'import csv, sys; rows = list(csv.reader(open(sys.argv[1], encoding="utf-8-sig"))); print(len(rows) - 2, "subdistrict rows;", rows[-1][1], "approved", rows[-1][7], "yuan")' "$DIR/futian.csv"
echo "walk-through complete"
