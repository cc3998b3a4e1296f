// Package console is the officer console at /console: server-rendered
// pages (package web) for the three officer roles kept apart (三员分立).
//
// Officers sign in through Tongxing's own OpenID Connect provider (package
// web/rp, public client "tongxing-console" with PKCE, minimum assurance
// urn:tongxing:loa:3) as the sign-on account bound to their officer
// account (package access). The console keeps its own session cookie
// (tx_console, path /console, HttpOnly, SameSite=Strict, signed), apart
// from the citizens' sign-on cookie; it ends after an idle period (default
// 15 minutes) and after 8 hours in any case, and the officer is looked up
// again on every request, so a revoked or unbound officer is out at once.
// Revocation, holds, key recovery, officer changes and policy uploads ask
// for a fresh authentication first (max_age, default 5 minutes). Officer
// proposals are decided by the target role: every officer sees, at
// /console/proposals, the pending proposals their own role approves.
//
// Every page and action is allowed or refused on the server by the
// officer's one role, and each decision is written to the audit log
// (access.allow / access.deny, resource "console:METHOD PATH"): the
// system administrator never sees the audit pages, the security auditor
// changes nothing, the registration officer manages certificates only.
package console
