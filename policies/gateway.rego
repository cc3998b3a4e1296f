# Policy of the Tongxing gateway: may this department service call that
# resource, for this purpose, and which response fields may it see?
#
# Deny by default. The gateway asks for data.tongxing.gateway.decision with
# the input documented in README.md beside this file; every lookup below
# is keyed (catalogue by resource, agreements by consumer then resource,
# power lists by department), so a decision never scans the agreements.
package tongxing.gateway

catalogue := data.tongxing.catalogue

resource := catalogue[input.resource.id]

consumer := input.caller.department

# Missing input members count as empty, so that leaving one out never
# skips a check.
purpose := object.get(input, "purpose", "")

named := object.get(input, ["citizen", "named"], "")

acted_for := object.get(input, ["citizen", "acted_for"], "")

acted_for_id := object.get(input, ["citizen", "acted_for_id"], "")

negative := data.tongxing.negative_list

# personal is true for a resource that carries personal data (个人信息).
personal if count(resource.personal_fields) > 0

# --- reasons to deny ---------------------------------------------------------

deny contains "no verified caller" if not consumer

deny contains "no verified caller" if consumer == ""

deny contains msg if {
	not resource
	msg := sprintf("%s %s is not in the resource catalogue (政务信息资源目录) of department %s",
		[input.method, input.path, input.target.department])
}

deny contains msg if {
	resource.owner != input.target.department
	msg := sprintf("resource %s belongs to department %s, not %s", [input.resource.id, resource.owner, input.target.department])
}

deny contains msg if {
	entry := negative.resources[input.resource.id]
	msg := sprintf("resource %s is on the negative list (负面清单): %s", [input.resource.id, entry.reason])
}

deny contains msg if {
	resource.sharing == "none"
	msg := sprintf("resource %s is not shared (不予共享)", [input.resource.id])
}

deny contains msg if {
	personal
	purpose == ""
	msg := sprintf("resource %s holds personal data: a purpose code (Tongxing-Purpose) is required", [input.resource.id])
}

deny contains msg if {
	purpose != ""
	not data.tongxing.purposes[purpose]
	msg := sprintf("purpose %s is not in the purpose catalogue", [purpose])
}

deny contains msg if {
	data.tongxing.purposes[purpose]
	not purpose_in_power_list
	msg := sprintf("purpose %s is not among the powers (权力清单) of department %s", [purpose, consumer])
}

# A purpose serves the consumer's powers when one of the power-list items
# it is tied to is an item of the consumer's own power list.
purpose_in_power_list if {
	some item in data.tongxing.purposes[purpose].powers
	data.tongxing.power_lists[consumer][item]
}

# A resource that identifies a citizen must be asked about one citizen.
deny contains msg if {
	resource.citizen_field
	named == ""
	msg := sprintf("the request does not name the citizen (%s %s) the resource is about", [resource.citizen_field["in"], resource.citizen_field.name])
}

# A service acting for a citizen may ask only about that citizen.
deny contains msg if {
	acted_for != ""
	resource.citizen_field
	named != ""
	named != acted_for_id
	msg := "the call acts for one citizen but names another (or the citizen acted for has no ID number on record)"
}

# Conditional resources need a live agreement covering the purpose.
agreements := object.get(data.tongxing.agreements, [consumer, input.resource.id], [])

deny contains msg if {
	resource.sharing == "conditional"
	count(agreements) == 0
	msg := sprintf("no sharing agreement gives department %s resource %s (有条件共享)", [consumer, input.resource.id])
}

deny contains msg if {
	resource.sharing == "conditional"
	count(agreements) > 0
	count(live) == 0
	some a in agreements
	msg := agreement_problem(a)
}

agreement_problem(a) := sprintf("agreement %s expired at %s", [a.id, a.expires]) if {
	input.time_ns >= time.parse_rfc3339_ns(a.expires)
} else := sprintf("agreement %s starts at %s", [a.id, a.valid_from]) if {
	input.time_ns < time.parse_rfc3339_ns(a.valid_from)
} else := sprintf("agreement %s does not cover purpose %s", [a.id, purpose])

live contains a if {
	some a in agreements
	time.parse_rfc3339_ns(a.valid_from) <= input.time_ns
	input.time_ns < time.parse_rfc3339_ns(a.expires)
	purpose in a.purposes
}

# --- the decision ------------------------------------------------------------
#
# allow is the positive form of the reasons to deny above, each condition
# the negation of one deny rule, so that an allowed call (the common case)
# is decided by keyed lookups alone and the reasons to deny are worked out
# only for a refusal. gateway_test.rego checks, over every resource,
# consumer, purpose and citizen of the example data, that allow holds
# exactly when no deny rule fires and a rule grants the call.

default allow := false

allow if {
	resource.sharing == "conditional"
	grant # only for a catalogued purpose of the consumer's own powers
	open_to_consumer
}

allow if {
	resource.sharing == "unconditional"
	purpose_ok
	open_to_consumer
}

# The checks every allowed call passes, whatever its sharing class.
open_to_consumer if {
	consumer != ""
	resource.owner == input.target.department
	not negative.resources[input.resource.id]
	citizen_ok
}

# No purpose, for a resource without personal data.
purpose_ok if {
	purpose == ""
	not personal
}

# A catalogued purpose that the consumer's powers give it.
purpose_ok if {
	purpose != ""
	data.tongxing.purposes[purpose]
	purpose_in_power_list
}

citizen_ok if citizen_ok_when(names_a_citizen(resource))

# names_a_citizen(res) is whether the resource identifies a citizen (has a
# citizen_field, as the deny rules read it).
names_a_citizen(res) := true if res.citizen_field else := false

# Nothing to check for a resource that names no citizen; for one that does,
# the citizen named, and, when acting for a citizen, that very citizen.
citizen_ok_when(false) := true

citizen_ok_when(true) if {
	named != ""
	acted_for == ""
}

citizen_ok_when(true) if {
	named != ""
	named == acted_for_id
}

granted if resource.sharing == "unconditional"

granted if {
	resource.sharing == "conditional"
	grant
}

# --- the grant index -----------------------------------------------------
#
# grants[CONSUMER][RESOURCE][PURPOSE] lists, by agreement id, the agreements
# that give a consumer a resource for a purpose of its own powers, with
# their validity in nanoseconds and the fields they open less those on the
# negative list; for a conditional resource off the negative list also its
# owner and the decision for the calls the agreement allows. Tongxing
# computes it once when it loads a bundle, from this very rule, and keeps
# it as data.tongxing.grants, so that a decision is one lookup; without
# that (stock `opa test` or `opa eval` on the bundle) the rule computes it.
grants := data.tongxing.grants if {
	data.tongxing.grants
} else := computed_grants

computed_grants := {c: by_resource |
	some c, agreed in data.tongxing.agreements
	by_resource := {r: by_purpose |
		some r, list in agreed
		by_purpose := {p: [grant_entry(a, r, p) | some a in by_id(list); p in a.purposes] |
			some p in {p | some a in list; some p in a.purposes}
			purpose_of_powers(c, p)
		}
		count(by_purpose) > 0
	}
	count(by_resource) > 0
}

# A catalogued purpose tied to an item of department c's power list.
purpose_of_powers(c, p) if {
	some item in data.tongxing.purposes[p].powers
	data.tongxing.power_lists[c][item]
}

# The agreements of list in the order of their ids.
by_id(list) := [a |
	some id in sort([x.id | some x in list])
	some a in list
	a.id == id
]

grant_entry(a, r, p) := object.union(
	{
		"id": a.id,
		"from_ns": time.parse_rfc3339_ns(a.valid_from),
		"until_ns": time.parse_rfc3339_ns(a.expires),
		"fields": fields,
		"approved_by": a.approved_by,
	},
	grant_decision(a, r, p, fields),
) if {
	fields := allowed_fields(a, r)
}

allowed_fields(a, r) := sort([f | some f in a.fields; not f in object.get(negative, ["fields", r], [])])

# For a conditional resource off the negative list, the decision for a
# call the agreement allows, made here once, and the resource's owner, so
# that such a call is decided by one lookup (see decision below).
grant_decision(a, r, p, fields) := {
	"owner": catalogue[r].owner,
	"names_citizen": names_a_citizen(catalogue[r]),
	"decision": {
		"allow": true,
		"reasons": [
			sprintf("agreement %s (approved by %s) covers purpose %s", [a.id, a.approved_by, p]),
			sprintf("legal basis: %s", [catalogue[r].legal_basis]),
		],
		"obligations": {"fields": fields},
		"agreement": a.id,
		"legal_basis": catalogue[r].legal_basis,
	},
} if {
	catalogue[r].sharing == "conditional"
	not negative.resources[r]
} else := {}

# --- the open-resource index ----------------------------------------------
#
# open_resources[RESOURCE] is, for an unconditional resource off the
# negative list, its owner, whether it holds personal data and names a
# citizen, and the decision for the calls it allows, which is the same for
# every consumer and purpose. Tongxing computes it once when it loads a
# bundle, from this rule, and keeps it as data.tongxing.open_resources, so
# that such a call too is decided by one lookup and the checks that depend
# on the call (see decision below).
computed_open_resources := {r: entry |
	some r, res in catalogue
	res.sharing == "unconditional"
	not negative.resources[r]
	entry := {
		"owner": res.owner,
		"personal": count(object.get(res, "personal_fields", [])) > 0,
		"names_citizen": names_a_citizen(res),
		"decision": {
			"allow": true,
			"reasons": [
				sprintf("unconditional sharing (无条件共享) of %s", [r]),
				sprintf("legal basis: %s", [res.legal_basis]),
			],
			"obligations": open_obligations(r, res),
			"agreement": "",
			"legal_basis": res.legal_basis,
		},
	}
}

# The fields obligation of an unconditional resource: its fields less those
# on the negative list, when the negative list names any of them.
open_obligations(r, res) := {"fields": sort([f | some f in res.fields; not f in neg])} if {
	neg := object.get(negative, ["fields", r], [])
	count(neg) > 0
} else := {}

# purpose_ok for a resource that holds personal data or not.
open_purpose_ok(false) if purpose == ""

open_purpose_ok(_) if {
	purpose != ""
	data.tongxing.purposes[purpose]
	purpose_in_power_list
}

# The grant used: the live entry with the smallest agreement id.
grant := live_grants[0]

live_grants := [g |
	some g in grants[consumer][input.resource.id][purpose]
	g.from_ns <= input.time_ns
	input.time_ns < g.until_ns
]

negative_fields := {f | some f in object.get(negative, ["fields", input.resource.id], [])}

# Fields the caller may see: the agreement's (conditional) or the
# resource's (unconditional), never those on the negative list. Undefined
# when the response need not be filtered.
fields := grant.fields if resource.sharing == "conditional"

fields := sort([f | some f in resource.fields; not negative_fields[f]]) if {
	resource.sharing == "unconditional"
	count(negative_fields) > 0
}

reasons := [
	sprintf("unconditional sharing (无条件共享) of %s", [input.resource.id]),
	sprintf("legal basis: %s", [resource.legal_basis]),
] if {
	allow
	resource.sharing == "unconditional"
} else := [
	sprintf("agreement %s (approved by %s) covers purpose %s", [grant.id, grant.approved_by, purpose]),
	sprintf("legal basis: %s", [resource.legal_basis]),
] if {
	allow
} else := sort([r | some r in deny]) if {
	count(deny) > 0
} else := ["denied by default: no rule grants the call"]

default obligations := {}

obligations := {"fields": f} if {
	allow
	f := fields
}

default agreement_id := ""

# Only a conditional resource is given under an agreement; one the
# consumer holds for an unconditional resource plays no part.
agreement_id := grant.id if resource.sharing == "conditional"

default legal_basis := ""

legal_basis := resource.legal_basis

# The decision. An allowed call, the common case, is the one its grant
# (under an agreement) or its open-resource entry (unconditional) holds, or
# is built in one body when Tongxing has not indexed the bundle, with
# the same values the rules above give it, which gateway_test.rego checks;
# a refused call's comes from those rules.
decision := g.decision if {
	# The first grant of the index, when live, is the grant used; its
	# decision exists only for a conditional resource off the negative
	# list, and its owner, whether it names a citizen and the citizen
	# checks are what remain of open_to_consumer.
	g := data.tongxing.grants[input.caller.department][input.resource.id][input.purpose][0]
	g.from_ns <= input.time_ns
	input.time_ns < g.until_ns
	input.caller.department != ""
	g.owner == input.target.department
	citizen_ok_when(g.names_citizen)
} else := o.decision if {
	# An unconditional resource off the negative list: its entry in the
	# open-resource index, for a caller, owner, purpose and citizen that
	# pass what remains of purpose_ok and open_to_consumer.
	o := data.tongxing.open_resources[input.resource.id]
	input.caller.department != ""
	o.owner == input.target.department
	open_purpose_ok(o.personal)
	citizen_ok_when(o.names_citizen)
} else := grant.decision if {
	resource.sharing == "conditional"
	open_to_consumer
} else := {
	"allow": true,
	"reasons": [
		sprintf("unconditional sharing (无条件共享) of %s", [input.resource.id]),
		sprintf("legal basis: %s", [resource.legal_basis]),
	],
	"obligations": obligations,
	"agreement": "",
	"legal_basis": resource.legal_basis,
} if {
	resource.sharing == "unconditional"
	purpose_ok
	open_to_consumer
} else := {
	"allow": allow,
	"reasons": reasons,
	"obligations": obligations,
	"agreement": agreement_id,
	"legal_basis": legal_basis,
}
