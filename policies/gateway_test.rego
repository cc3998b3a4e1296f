# Unit tests of gateway.rego over the example data (data.json). Run with
# `tongxing policy test` (OPA's test runner) or `go test ./policies`.
package tongxing.gateway_test

import data.tongxing.gateway

now := time.parse_rfc3339_ns("2026-06-01T00:00:00Z")

citizen := "c0ffee"

call(caller, target, resource, purpose) := {
	"caller": {"department": caller, "service": "api", "id": sprintf("spiffe://tongxing.internal/dept/%s/svc/api", [caller]), "via": "mtls"},
	"target": {"department": target},
	"resource": {"id": resource},
	"purpose": purpose,
	"citizen": {"acted_for": "", "acted_for_id": "", "named": citizen},
	"time_ns": now,
	"method": "GET",
	"path": "/v1/x",
}

has_reason(d, fragment) if {
	some r in d.reasons
	contains(r, fragment)
}

test_unconditional_allowed if {
	d := gateway.decision with input as call("tax", "gongan", "gongan.population-stats", "")
	d.allow
	d.obligations == {}
	has_reason(d, "无条件共享")
}

test_conditional_without_agreement_denied if {
	d := gateway.decision with input as call("tax", "gongan", "gongan.household", "P-IIT-VERIFY")
	not d.allow
	has_reason(d, "no sharing agreement gives department tax resource gongan.household")
}

test_personal_data_needs_purpose if {
	d := gateway.decision with input as call("tax", "renshe", "renshe.social-insurance", "")
	not d.allow
	has_reason(d, "a purpose code (Tongxing-Purpose) is required")
}

test_purpose_outside_power_list_denied if {
	d := gateway.decision with input as call("tax", "renshe", "renshe.social-insurance", "P-SI-ELIG")
	not d.allow
	has_reason(d, "purpose P-SI-ELIG is not among the powers (权力清单) of department tax")
}

test_unknown_purpose_denied if {
	d := gateway.decision with input as call("tax", "renshe", "renshe.social-insurance", "P-NOPE")
	not d.allow
	has_reason(d, "not in the purpose catalogue")
}

test_agreement_and_purpose_allowed_with_fields if {
	d := gateway.decision with input as call("tax", "renshe", "renshe.social-insurance", "P-IIT-VERIFY")
	d.allow
	d.agreement == "A-2025-002"
	d.obligations.fields == ["employer", "id_number", "months_paid", "name"]
	has_reason(d, "agreement A-2025-002")
}

test_negative_fields_removed_even_if_agreed if {
	d := gateway.decision with input as call("renshe", "gongan", "gongan.household", "P-SI-ELIG")
	d.allow
	not "religion" in d.obligations.fields
	"name" in d.obligations.fields
}

test_not_shared_denied if {
	d := gateway.decision with input as call("tax", "gongan", "gongan.criminal-record", "P-IIT-VERIFY")
	not d.allow
	has_reason(d, "不予共享")
}

test_negative_list_beats_agreement if {
	d := gateway.decision with input as call("tax", "renshe", "renshe.injury-medical", "P-IIT-VERIFY")
	not d.allow
	has_reason(d, "负面清单")
}

test_expired_agreement_denied if {
	d := gateway.decision with input as call("tax", "renshe", "renshe.pension-payments", "P-IIT-VERIFY")
	not d.allow
	has_reason(d, "agreement A-2024-007 expired")
}

test_agreement_not_covering_purpose if {
	d := gateway.decision with input as call("tax", "renshe", "renshe.social-insurance", "P-TAX-INSPECT")
	not d.allow
	has_reason(d, "agreement A-2025-002 does not cover purpose P-TAX-INSPECT")
}

test_unknown_resource_denied if {
	d := gateway.decision with input as call("tax", "renshe", "", "")
	not d.allow
	has_reason(d, "not in the resource catalogue")
}

test_resource_of_another_department_denied if {
	d := gateway.decision with input as call("tax", "renshe", "gongan.population-stats", "")
	not d.allow
	has_reason(d, "belongs to department gongan")
}

test_no_caller_denied if {
	d := gateway.decision with input as object.remove(call("tax", "gongan", "gongan.population-stats", ""), ["caller"])
	not d.allow
	has_reason(d, "no verified caller")
}

test_citizen_must_be_named if {
	inp := object.union(call("tax", "renshe", "renshe.social-insurance", "P-IIT-VERIFY"), {"citizen": {"named": ""}})
	d := gateway.decision with input as inp
	not d.allow
	has_reason(d, "does not name the citizen")
}

test_acting_for_one_citizen_about_another_denied if {
	inp := object.union(call("tax", "renshe", "renshe.social-insurance", "P-IIT-VERIFY"), {"citizen": {"acted_for": "h", "acted_for_id": "other", "named": citizen}})
	d := gateway.decision with input as inp
	not d.allow
	has_reason(d, "acts for one citizen but names another")
}

test_acting_for_the_named_citizen_allowed if {
	inp := object.union(call("tax", "renshe", "renshe.social-insurance", "P-IIT-VERIFY"), {"citizen": {"acted_for": "h", "acted_for_id": citizen, "named": citizen}})
	d := gateway.decision with input as inp
	d.allow
}

test_empty_input_denied if {
	d := gateway.decision with input as {}
	not d.allow
}

# allow is written as the positive form of the deny rules, with the grant
# index for agreements. Over every resource, consumer, purpose, citizen and
# time of the example data, it must hold exactly when no deny rule fires
# and the resource is unconditional or a live agreement covers the purpose.
full_allow if {
	count(gateway.deny) == 0
	gateway.resource.sharing == "unconditional"
}

full_allow if {
	count(gateway.deny) == 0
	gateway.resource.sharing == "conditional"
	count(gateway.live) > 0
}

default full_allow := false

test_allow_is_the_positive_form_of_deny if {
	consumers := array.concat([c | some c, _ in data.tongxing.power_lists], ["", "nobody"])
	purposes := array.concat([p | some p, _ in data.tongxing.purposes], ["", "P-NOPE"])
	citizens := [
		{"named": citizen, "acted_for": "", "acted_for_id": ""},
		{"named": "", "acted_for": "", "acted_for_id": ""},
		{"named": citizen, "acted_for": "p1", "acted_for_id": citizen},
		{"named": citizen, "acted_for": "p1", "acted_for_id": "other"},
		{"named": citizen, "acted_for": "p1", "acted_for_id": ""},
	]
	times := [time.parse_rfc3339_ns("2020-01-01T00:00:00Z"), now, time.parse_rfc3339_ns("2040-01-01T00:00:00Z")]
	cases := [[c, r, p, z, t, target] |
		some r, res in data.tongxing.catalogue
		some target in {res.owner, "nowhere"}
		some c in consumers
		some p in purposes
		some z in citizens
		some t in times
	]
	count(cases) > 10000
	grants := gateway.computed_grants # as Tongxing stores it when loading the bundle
	mismatches := [x |
		some x in cases
		[c, r, p, z, t, target] := x
		call_input := object.union(call(c, target, r, p), {"citizen": z, "time_ns": t})
		allowed := gateway.allow with input as call_input with data.tongxing.grants as grants
		full := full_allow with input as call_input
		allowed != full
	]
	mismatches == []
}

# The same at the edges of every agreement's validity, where the grant
# index compares nanoseconds and the deny rules parse the dates.
test_grant_index_at_validity_edges if {
	grants := gateway.computed_grants
	cases := [[c, r, p, t] |
		some c, by_resource in data.tongxing.agreements
		some r, list in by_resource
		some a in list
		some p in a.purposes
		from := time.parse_rfc3339_ns(a.valid_from)
		until := time.parse_rfc3339_ns(a.expires)
		some t in [from - 1, from, until - 1, until]
	]
	count(cases) > 10
	mismatches := [x |
		some x in cases
		[c, r, p, t] := x
		call_input := object.union(call(c, data.tongxing.catalogue[r].owner, r, p), {"time_ns": t})
		allowed := gateway.allow with input as call_input with data.tongxing.grants as grants
		full := full_allow with input as call_input
		allowed != full
	]
	mismatches == []
}

# The decision's one-body forms for allowed calls give what the separate
# rules give, for every resource, consumer, purpose, citizen, time and
# target department (the owner or another).
test_decision_matches_the_rules if {
	grants := gateway.computed_grants
	open := gateway.computed_open_resources
	cases := [[c, r, p, z, t, target] |
		some c, _ in data.tongxing.power_lists
		some r, res in data.tongxing.catalogue
		some target in {res.owner, "nowhere"}
		some p in array.concat([q | some q, _ in data.tongxing.purposes], [""])
		some z in [
			{"named": citizen, "acted_for": "", "acted_for_id": ""},
			{"named": "", "acted_for": "", "acted_for_id": ""},
			{"named": citizen, "acted_for": "p1", "acted_for_id": "other"},
		]
		some t in [time.parse_rfc3339_ns("2020-01-01T00:00:00Z"), now]
	]
	mismatches := [[x, d, rules] |
		some x in cases
		[c, r, p, z, t, target] := x
		call_input := object.union(call(c, target, r, p), {"citizen": z, "time_ns": t})
		d := gateway.decision with input as call_input with data.tongxing.grants as grants with data.tongxing.open_resources as open
		rules := {
			"allow": gateway.allow,
			"reasons": gateway.reasons,
			"obligations": gateway.obligations,
			"agreement": gateway.agreement_id,
			"legal_basis": gateway.legal_basis,
		} with input as call_input with data.tongxing.grants as grants
		d != rules
	]
	count(cases) > 1000
	mismatches == []
}

# Fields on the negative list are filtered from an unconditional resource
# too: the decision then carries the fields obligation.
test_unconditional_with_negative_fields_filtered if {
	fields := {"gongan.population-stats": ["households"]}
	d := gateway.decision with input as call("tax", "gongan", "gongan.population-stats", "")
		with data.tongxing.negative_list.fields as fields
	d.allow
	d.obligations == {"fields": ["district", "registered_population", "year"]}
}

# A renewed agreement: the first by id has expired and the renewal is live.
# The decision uses the agreement live at the time of the call, whether the
# grant index's first entry is live or not, and is what the rules give.
test_renewed_agreement_decides_by_the_live_one if {
	old := data.tongxing.agreements.tax["renshe.pension-payments"][0]
	renewal := object.union(old, {"id": "A-2025-010", "valid_from": "2025-07-01T00:00:00+08:00", "expires": "2031-12-31T23:59:59+08:00"})
	agreements := object.union(data.tongxing.agreements, {"tax": {"renshe.pension-payments": [renewal, old]}})
	grants := gateway.computed_grants with data.tongxing.agreements as agreements
	[g.id | some g in grants.tax["renshe.pension-payments"]["P-IIT-VERIFY"]] == ["A-2024-007", "A-2025-010"]
	decided := {t: d.agreement |
		some t in ["2025-03-01T00:00:00Z", "2026-06-01T00:00:00Z", "2032-01-01T00:00:00Z"]
		call_input := object.union(call("tax", "renshe", "renshe.pension-payments", "P-IIT-VERIFY"), {"time_ns": time.parse_rfc3339_ns(t)})
		d := gateway.decision with input as call_input with data.tongxing.agreements as agreements with data.tongxing.grants as grants
		rules := {
			"allow": gateway.allow,
			"reasons": gateway.reasons,
			"obligations": gateway.obligations,
			"agreement": gateway.agreement_id,
			"legal_basis": gateway.legal_basis,
		} with input as call_input with data.tongxing.agreements as agreements with data.tongxing.grants as grants
		d == rules
	}
	decided == {"2025-03-01T00:00:00Z": "A-2024-007", "2026-06-01T00:00:00Z": "A-2025-010", "2032-01-01T00:00:00Z": ""}
}

# The open-resource index: a decision on an unconditional resource reads
# it (an entry with other reasons shows through) ...
test_decision_reads_the_open_resource_index if {
	entry := object.union(gateway.computed_open_resources["gongan.population-stats"], {"decision": {"allow": true, "reasons": ["from the index"], "obligations": {}, "agreement": "", "legal_basis": ""}})
	d := gateway.decision with input as call("tax", "gongan", "gongan.population-stats", "")
		with data.tongxing.open_resources as {"gongan.population-stats": entry}
	d.reasons == ["from the index"]
}

# ... and gives what the rules give, for every consumer, purpose, citizen
# and target department, also for an unconditional resource that holds
# personal data and names a citizen, and for one with fields on the
# negative list (the example data has neither).
test_open_resource_index_matches_the_rules if {
	jobs := object.union(data.tongxing.catalogue["renshe.job-vacancies"], {"personal_fields": ["id_number"], "citizen_field": {"in": "path", "name": "id_number"}})
	cat := object.union(data.tongxing.catalogue, {"renshe.job-vacancies": jobs})
	neg := object.union(data.tongxing.negative_list, {"fields": object.union(data.tongxing.negative_list.fields, {"gongan.population-stats": ["households"]})})
	open := gateway.computed_open_resources with data.tongxing.catalogue as cat with data.tongxing.negative_list as neg
	open["renshe.job-vacancies"].personal
	open["renshe.job-vacancies"].names_citizen
	open["gongan.population-stats"].decision.obligations == {"fields": ["district", "registered_population", "year"]}
	cases := [[c, r, p, z, target] |
		some c in array.concat([c | some c, _ in data.tongxing.power_lists], ["", "nobody"])
		some r, res in cat
		res.sharing == "unconditional"
		some target in {res.owner, "nowhere"}
		some p in array.concat([q | some q, _ in data.tongxing.purposes], ["", "P-NOPE"])
		some z in [
			{"named": citizen, "acted_for": "", "acted_for_id": ""},
			{"named": "", "acted_for": "", "acted_for_id": ""},
			{"named": citizen, "acted_for": "p1", "acted_for_id": citizen},
			{"named": citizen, "acted_for": "p1", "acted_for_id": "other"},
		]
	]
	results := [[x, d, rules] |
		some x in cases
		[c, r, p, z, target] := x
		call_input := object.union(call(c, target, r, p), {"citizen": z})
		d := gateway.decision with input as call_input with data.tongxing.catalogue as cat
			with data.tongxing.negative_list as neg with data.tongxing.open_resources as open
		rules := {
			"allow": gateway.allow,
			"reasons": gateway.reasons,
			"obligations": gateway.obligations,
			"agreement": gateway.agreement_id,
			"legal_basis": gateway.legal_basis,
		} with input as call_input with data.tongxing.catalogue as cat with data.tongxing.negative_list as neg
	]
	count(cases) > 500
	count([x | some [x, d, _] in results; d.allow; x[1] == "renshe.job-vacancies"]) > 0
	[x | some [x, d, rules] in results; d != rules] == []
}

# An agreement for an unconditional resource plays no part in its
# decision: the decision read from the open-resource index is what the
# rules give, with no agreement named (the example data has none such).
test_agreement_for_an_unconditional_resource if {
	a := {"id": "A-U", "purposes": ["P-IIT-VERIFY"], "fields": ["district"], "valid_from": "2025-01-01T00:00:00Z", "expires": "2030-01-01T00:00:00Z", "approved_by": "x"}
	agreements := object.union(data.tongxing.agreements, {"tax": {"gongan.population-stats": [a]}})
	grants := gateway.computed_grants with data.tongxing.agreements as agreements
	open := gateway.computed_open_resources with data.tongxing.agreements as agreements
	call_input := call("tax", "gongan", "gongan.population-stats", "P-IIT-VERIFY")
	d := gateway.decision with input as call_input with data.tongxing.agreements as agreements
		with data.tongxing.grants as grants with data.tongxing.open_resources as open
	rules := {
		"allow": gateway.allow,
		"reasons": gateway.reasons,
		"obligations": gateway.obligations,
		"agreement": gateway.agreement_id,
		"legal_basis": gateway.legal_basis,
	} with input as call_input with data.tongxing.agreements as agreements with data.tongxing.grants as grants
	d.allow
	d == rules
}
