// Package totp implements time-based one-time passwords for the second
// login factor of assurance level urn:tongxing:loa:3.
//
// Standards implemented:
//
//   - RFC 6238 TOTP with the parameters authenticator apps use: HMAC-SHA-1,
//     6 digits, a 30-second time step counted from the Unix epoch, and a
//     tolerance of one step either side of the verifier's clock (RFC 6238
//     §5.2). The HOTP value is computed by github.com/pquerna/otp (RFC 4226
//     §5.3 dynamic truncation, constant-time comparison).
//   - RFC 4226 §4 requirement R6: secrets are 160 random bits (generated),
//     and secrets shorter than 128 bits are refused when validating.
//   - The Key Uri Format of authenticator apps
//     (otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=...) for enrolment by
//     QR code; the secret is RFC 4648 base32 without padding.
//   - RFC 6238 §5.2 replay protection: [Verifier] accepts each time step at
//     most once per account, through a [UsedSteps] store. The provider backs
//     that store with its database; [MemoryUsedSteps] is for tests and
//     single-process use.
//
// What this package does NOT do: throttle guesses (a 6-digit code with
// ±1 step is guessed with probability 3 in 10^6 per try, so the caller
// must limit attempts per account), store secrets, or encrypt them at rest.
// Secrets and codes never appear in its errors.
//
// The package holds no global mutable state; [Validate], [GenerateCode],
// [GenerateSecret] and a [Verifier] with a concurrency-safe [UsedSteps] are
// safe for concurrent use.
package totp
