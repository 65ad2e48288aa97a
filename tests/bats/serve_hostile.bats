#!/usr/bin/env bats
# umapsync serve against hostile clients (SPEC §8): names holding \u0000, updates of keys
# that would replace structure, duplicate op ids, unauthenticated bodies, the bytes in
# flight, duplicate Content-Length, a damaged database and a full disk.

load helper
load sync_helper

# raw_op ID HLC_NODE FIELDS: an op whose members after op_id/hlc are given as JSON text.
raw_op() {
	printf '{"op_id":"%s","hlc":"%s",%s}' "$1" "$(hlc "$2")" "$3"
}

@test "serve_hostile: names holding \\u0000 are refused with 400 and nothing is stored" {
	start_server
	push m alice 0 "[$(op_feature a1 L1 f1 Gare alice)]"
	[ "$code" = 200 ]
	local feature='"subject":"feature","metadata":{"id":"f1","layerId":"L1"},"key":"properties.n","value":1'
	push m alice 1 "[$(raw_op 'a\u0000x' alice "\"verb\":\"update\",$feature")]"
	[ "$code" = 400 ]
	[[ $(jq -r .error <<<"$body") == *'"op_id" must be a string of 1 to 128 printable characters'* ]]
	push m alice 1 "[$(raw_op a2 alice "\"verb\":\"update\\u0000x\",$feature")]"
	[ "$code" = 400 ]
	[[ $(jq -r .error <<<"$body") == *'"verb" must be'* ]]
	push m alice 1 "[$(raw_op a2 alice '"verb":"update","subject":"feature","metadata":{"id":"f1","layerId":"L1\u0000x"},"key":"properties.n","value":1')]"
	[ "$code" = 400 ]
	[[ $(jq -r .error <<<"$body") == *'metadata.layerId must be'* ]]
	push m alice 1 "[$(raw_op a2 alice '"verb":"update","subject":"feature","metadata":{"id":"f1","layerId":"L1"},"key":"properties.n\u0000x","value":1')]"
	[ "$code" = 400 ]
	[[ $(jq -r .error <<<"$body") == *'an update needs a dotted "key"'* ]]
	push m alice 1 "[$(raw_op a2 alice '"verb":"upsert","subject":"datalayer","metadata":{"id":"L2","filename":"a.geojson\u0000x"},"value":{}')]"
	[ "$code" = 400 ]
	[[ $(jq -r .error <<<"$body") == *'metadata.filename must be'* ]]
	http POST /v1/maps/m/push --data-binary '{"client_id":"alice\u0000x","base":1,"ops":[]}'
	[ "$code" = 400 ]
	[[ $(jq -r .error <<<"$body") == *'"client_id" must be'* ]]
	http POST /v1/maps/m/push --data-binary "{\"client_id\":\"alice\",\"base\":1,\"ops\":[{\"op_id\":\"a2\",\"hlc\":\"$(hlc alice)\\u0000x\",\"verb\":\"update\",$feature}]}"
	[ "$code" = 400 ]
	[[ $(jq -r .error <<<"$body") == *'"hlc" must be a hybrid logical clock string'* ]]
	http GET '/v1/maps/m/pull?since=0'
	[ "$(jq -r .cursor <<<"$body")" = 1 ]
}

@test "serve_hostile: a value holding \\u0000 round-trips through push, pull and snapshot, and later updates work" {
	start_server
	push m alice 0 '[{"op_id":"a1","hlc":"'"$(hlc alice)"'","verb":"upsert","subject":"feature","metadata":{"id":"f1","layerId":"L1"},"value":{"type":"Feature","geometry":null,"properties":{"n":"a\u0000b","k\u0000ey":1}}}]'
	[ "$code" = 200 ]
	push m alice 1 "[$(op_update a2 L1 f1 properties.x '"c\u0000d"' alice)]"
	[ "$code" = 200 ]
	[ "$body" = '{"ack":["a2"],"cursor":2}' ]
	push m alice 2 "[$(op_update a3 L1 f1 properties.y 3 alice)]"
	[ "$code" = 200 ]
	http GET /v1/maps/m/snapshot
	[ "$code" = 200 ]
	[[ $body == *'"features":[{"type":"Feature","geometry":null,"properties":{"n":"a\u0000b","k\u0000ey":1,"x":"c\u0000d","y":3},"id":"f1"}]'* ]]
	http GET '/v1/maps/m/pull?since=0'
	[[ $body == *'"properties":{"n":"a\u0000b","k\u0000ey":1}'* ]]
	[[ $body == *'"key":"properties.x","value":"c\u0000d"'* ]]
	# the map's options too
	push m alice 3 '[{"op_id":"a4","hlc":"'"$(hlc alice)"'","verb":"update","subject":"map","key":"properties.name","value":"m\u0000n"}]'
	[ "$code" = 200 ]
	push m alice 4 '[{"op_id":"a5","hlc":"'"$(hlc alice)"'","verb":"update","subject":"map","key":"properties.zoom","value":3}]'
	[ "$code" = 200 ]
	http GET /v1/maps/m/snapshot
	[[ $body == *'"properties":{"properties":{"name":"m\u0000n","zoom":3}}'* ]]
}

@test "serve_hostile: updates of keys outside a subject's fields are refused (a map's layers, a feature's type)" {
	start_server
	push m alice 0 "[$(op_layer a1 L1 parking.geojson Parking alice),$(op_feature a2 L1 f1 Gare alice)]"
	[ "$code" = 200 ]
	push m eve 2 "[$(raw_op e1 eve '"verb":"update","subject":"map","key":"layers","value":[]')]"
	[ "$code" = 400 ]
	[ "$(jq -r .error <<<"$body")" = 'ops[0]: a map update cannot change "layers": its key is "geometry" or starts with "properties."' ]
	for key in type id name layers.0; do
		push m eve 2 "[$(raw_op e1 eve "\"verb\":\"update\",\"subject\":\"map\",\"key\":\"$key\",\"value\":1")]"
		[ "$code" = 400 ]
	done
	for key in type id id.x layers properties; do
		push m eve 2 "[$(op_update e1 L1 f1 "$key" 1 eve)]"
		[ "$code" = 400 ]
		[[ $(jq -r .error <<<"$body") == *"a feature update cannot change \"$key\""* ]]
	done
	push m eve 2 "[$(raw_op e1 eve '"verb":"update","subject":"datalayer","metadata":{"id":"L1"},"key":"features","value":[]')]"
	[ "$code" = 400 ]
	[[ $(jq -r .error <<<"$body") == *'a datalayer key starts with "options.", "properties." or "_umap_options."'* ]]
	# what uMap sends goes through
	push m alice 2 "[$(raw_op a3 alice '"verb":"update","subject":"map","key":"properties.center","value":{"type":"Point","coordinates":[4.8,45.7]}'),$(op_update a4 L1 f1 geometry '{"type":"Point","coordinates":[1,2]}' alice),$(op_update a5 L1 f1 properties._umap_options.color '"red"' alice),$(raw_op a6 alice '"verb":"update","subject":"datalayer","metadata":{"id":"L1"},"key":"options.color","value":"blue"')]"
	[ "$code" = 200 ]
	http GET /v1/maps/m/snapshot
	[ "$(jq -c '.layers[0].features[0].geometry.coordinates' <<<"$body")" = '[1,2]' ]
	[ "$(jq -r '.layers | length' <<<"$body")" = 1 ]
}

@test "serve_hostile: the same op_id twice in one push is a 400 that names both, and nothing is applied" {
	start_server
	push m alice 0 "[$(op_feature a1 L1 f1 Gare alice),$(op_feature a2 L1 f2 Perrache alice),$(op_feature a1 L1 f3 Dup alice)]"
	[ "$code" = 400 ]
	[ "$(jq -r .error <<<"$body")" = "ops[2]: op_id 'a1' is already used by ops[0] of this push: each op needs its own op_id" ]
	http GET /v1/maps/m/snapshot
	[ "$code" = 404 ]
	push m alice 0 "[$(op_feature a1 L1 f1 Gare alice),$(op_feature a2 L1 f2 Perrache alice)]"
	[ "$code" = 200 ]
}
