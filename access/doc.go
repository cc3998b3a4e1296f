// Package access keeps Tongxing's officers apart (三员分立) and
// authenticates them on the administrative APIs.
//
// # Roles
//
// Every officer holds exactly one role, and no role holds everything:
//
//   - sysadmin (系统管理员): configuration, OpenID Connect clients and
//     accounts, proposing officers. Cannot read the audit log or act on
//     certificates.
//   - auditor (安全审计员): reads, searches, exports and verifies the audit
//     log. Changes nothing.
//   - ra (注册审核员, registration officer): enrolment codes, certificates,
//     revocation, KMC key-recovery approvals.
//
// # No self-promotion
//
// A sysadmin proposes a new officer, a sign-on account for an officer
// (bind), or a new token for an officer who lost theirs ([KindAdd],
// [KindBind], [KindToken]). The change takes effect only when an active
// officer of the TARGET role approves it: each role admits its own members.
// Neither the proposer nor the officer concerned may approve. For add and
// token proposals, the proposer receives one claim code and the approver
// another; the new token is issued (once) to whoever presents both
// ([Officers.Claim]). Neither the sysadmin nor the approving officer alone
// can obtain it, so a sysadmin cannot give themselves a registration
// officer's powers, and a registration officer cannot mint a second
// identity to satisfy the KMC's dual control.
//
// A sysadmin may revoke an officer (and so their tokens) or unbind their
// sign-on account at once: those only take powers away. The last active
// officer of a role with a usable token cannot be revoked, so no role is
// ever left without a member.
//
// # Tokens
//
// Officers authenticate with bearer tokens (RFC 6750, Authorization: Bearer
// txo_...): 32 random bytes, shown once, stored only as their SHA-256 hash,
// valid for [DefaultTokenTTL] unless a shorter or longer life (at most
// [MaxTokenTTL]) is asked for. An officer renews their own token before it
// expires ([Officers.RenewToken]); the old one is revoked with it.
//
// [Officers.Require] guards a handler with a role. Every decision it makes
// on a presented officer token, allow or deny, is recorded through the
// [Auditor] before the handler runs or the refusal is sent, with the
// officer, role, method, path and source address; a decision that cannot
// be recorded is not acted on.
//
// # Start and upgrade
//
// `tongxing init` and the first zero-configuration start create one officer
// of each role ([Officers.Bootstrap]). A role without any active officer
// holding a usable token (a data directory of an earlier version, or every
// token of the role expired) gets a new first officer at start; the server
// writes its token to DATA/secrets/ROLE-token. Tokens of earlier versions
// become officers of their own (migration 00040): the all-powerful admin
// token becomes a sysadmin.
//
// Storage is behind the small [Storage] interface; [SQLStore] implements it
// on SQLite and PostgreSQL.
package access
