// Package kmc is Tongxing's key management centre (密钥管理中心) for e证通 dual
// certificates: the subscriber makes the signing key, the KMC makes the
// encryption key, escrows it and can recover it under dual control.
//
// Standards:
//
//   - GB/T 35276-2017 SM2EnvelopedKey: the encryption private key travels to
//     its holder enveloped to an SM2 public key (SM4 under an SM2-encrypted
//     symmetric key), made and read with github.com/emmansun/gmsm/sm2.
//   - GM/T 0092-2020 CSRResponse: the answer to a dual enrolment carries the
//     signing certificates, the enveloped encryption key and the encryption
//     certificates (github.com/emmansun/gmsm/smx509).
//   - GB/T 32907 SM4 in GCM mode (NIST SP 800-38D construction) seals the
//     escrowed keys under the KMC master key.
//   - GM/T 0015 unified social credit code extension, copied from the signing
//     certificate to the encryption certificate through the enterprise-enc
//     profile.
//
// Escrow. Each escrowed key is the 32-byte SM2 private scalar sealed with
// SM4-GCM under the 16-byte master key (kept at rest by kms, see [New]), with a
// fresh random 96-bit nonce and, as additional authenticated data, the label
// "tongxing kmc escrow v1", a zero byte and the encryption certificate's
// serial. A flipped bit anywhere in the row, or a row moved to another
// serial, fails to open with [ErrEscrowCorrupt]; a row sealed under another
// master key fails with [ErrWrongMasterKey]. The escrow row is committed
// before [Centre.EnrolDual] returns.
//
// Only the KMC issues encryption certificates: the enterprise-enc profile is
// kmc_only, so no enrolment code or ACME order can yield one for a key the
// subscriber made (and the KMC never saw).
//
// Repeats. A dual enrolment is idempotent for the code's lifetime: the same
// code with a CSR for the same signing key returns the same pair, the
// escrowed encryption key enveloped again to the signing key (event
// "redelivered"); another key gets 409. Of concurrent requests with one code
// and key exactly one makes and escrows a pair; the others wait (at most a
// few seconds) for its escrow and return it.
//
// Login certificate. With a login CSR ([DualRequest.LoginCSR],
// [WithLoginKey]) the same request also yields an enterprise-login
// certificate (ECDSA P-256, TLS client authentication) for the organisation,
// for browser certificate login.
//
// Recovery. An escrowed key is released only by [Centre.Deliver], once, and only
// after [RequiredApprovals] registration officers other than the requester
// approved the recovery: three different officers in all. Officers are told
// apart by their actor name ("officer:<name>"), so two tokens of one officer
// count as one officer. The key is delivered as an SM2EnvelopedKey to the
// SM2 public key named in the request, never in the clear. Every step,
// refusals included, is recorded in kmc_events and, with [WithAuditor], in
// the audit log.
//
// HTTP: [API.Routes] serves /ca/v1/kmc/...; [RequestDual] is the client of a
// dual enrolment.
package kmc
