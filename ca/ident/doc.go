// Package ident validates, pseudonymises and encodes the Chinese identity
// numbers that Tongxing certificates carry.
//
// Standards implemented:
//
//   - GB 11643-1999 citizen identity number (公民身份号码): 18 characters,
//     region code, birth date, sequence code, and an ISO 7064:1983 MOD 11-2
//     check character. See [ValidateCitizenID] and [NormalizeCitizenID].
//   - GB 32100-2015 unified social credit code (统一社会信用代码), with the
//     registration-authority and organisation-type code table as amended
//     (authorities 1-9, A, N, Y), and the GB 11714-1997 organisation code
//     embedded at positions 9-17 with its own MOD 11 check character. See
//     [ValidateUSCC] and [NormalizeUSCC].
//   - HMAC (RFC 2104) over SM3 (GB/T 32905-2016) for per-deployment
//     pseudonyms of citizen identity numbers. See [Pseudonym].
//   - GM/T 0015-2012 subject extensions (非关键扩展): the identity code
//     1.2.156.10260.4.1.1 (IdentifyCode CHOICE, residenterCardNumber [0]
//     IMPLICIT PrintableString) and the unified social credit code
//     1.2.156.10260.4.4 (PrintableString), with the older enterprise arcs
//     1.2.156.10260.4.1.4 and 1.2.156.10260.4.1.3 read as fallbacks. See
//     [IdentityCodeExtension], [USCCExtension], [IdentityCodeFrom] and
//     [USCCFrom].
//   - Names that certificates carry (persons, agents, organisations) are
//     checked for bidirectional controls, zero-width and other invisible
//     characters, controls and invalid UTF-8 by [CheckName].
//
// Every rejection is an [*Error] that unwraps to one [Kind] (ErrLength,
// ErrCharset, ErrSegment, ErrDate, ErrChecksum, ErrEncoding, ErrUnsupported),
// so callers use errors.Is for the kind and errors.As for the field. Errors
// never carry a full identity number: only its length and last four
// characters.
//
// What this package does NOT check: that a region or administrative division
// code exists in GB/T 2260; that a person or organisation exists or is still
// registered; first-generation 15-digit identity numbers; military officer
// card or passport numbers; the per-document arcs 1.2.156.10260.4.1.1.x of
// GM/T 0015-2023.
//
// The package holds no state; every function is safe for concurrent use.
package ident
