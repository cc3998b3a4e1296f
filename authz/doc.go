// Package authz is Tongxing's policy decision point: Open Policy Agent
// (github.com/open-policy-agent/opa, v1 Rego) evaluated in-process for the
// gateway.
//
// Policies and their data travel as standard OPA bundles (.tar.gz with
// .manifest, data.json, *.rego and .signatures.json). [Build] makes one from
// a directory such as policies/, [Sign] signs it with OPA's own bundle
// signature format (a JWS, ES256, over the SHA-256 of every file) using a
// crypto.Signer — in Tongxing the ECDSA P-256 key "policy-signer" whose
// certificate the intl issuing CA issues — and [Read] verifies one. Because
// the format is OPA's, stock `opa` verifies the same bundle:
//
//	opa build --bundle policy.tar.gz --verification-key policy-signer.pub.pem \
//	    --verification-key-id tongxing-policy --signing-alg ES256 -o /dev/null
//
// [Load] turns a verified bundle into a [Policy]: the data goes into OPA's
// in-memory store in its AST form (inmem.OptReturnASTValuesOnRead, the
// read-optimised mode, so evaluation does not convert documents), the
// query data.tongxing.gateway.decision is prepared once, and the resource
// catalogue is compiled into a route table ([Catalogue]). An [Engine]
// holds the current Policy behind an atomic pointer: [Engine.Swap] replaces
// policy, data and routes together, so a decision never mixes two
// revisions, and evaluations in flight finish on the one they started
// with.
//
// The data is shaped so that a decision is a lookup: the catalogue by
// resource id, agreements by consumer department then resource, power
// lists by department; and when the policy defines GrantsQuery (the
// example does), Load evaluates it once and keeps the agreements indexed
// by consumer, resource and purpose as data.tongxing.grants, and likewise
// the unconditional resources as data.tongxing.open_resources
// ([OpenResourcesQuery]), which a bundle may not bring itself
// ([ErrReservedData]). Deny by default: a missing decision or an
// evaluation error is a denial ([Decision.Error] says which).
// [Policy.Decide] evaluates on long-lived evaluator goroutines of the
// policy, which keep the stacks OPA's recursive evaluator grows, instead
// of growing a fresh request goroutine's stack on every decision.
package authz
