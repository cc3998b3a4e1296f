// Package sm2note signs and verifies C2SP signed notes (c2sp.org/signed-note,
// the format of golang.org/x/mod/sumdb/note) with SM2 signatures over SM3
// (GB/T 32918.2, GB/T 32905), and signs them with Ed25519 keys held as a
// [crypto.Signer].
//
// # SM2 signature type
//
// signed-note assigns no signature type byte to SM2, so this package uses the
// escape the specification reserves for that purpose: the byte 0xff followed by
// the identifier "tongxing/sm2-sm3". The signature type is therefore the 17
// bytes
//
//	0xff || "tongxing/sm2-sm3"
//
// The public key is encoded as the 65-byte uncompressed SM2 point
// 0x04 || X || Y (GB/T 32918.1). Following the specification's recommendation,
// the key ID is
//
//	key ID = SHA-256(key name || 0x0A || 0xff || "tongxing/sm2-sm3" || 0x04 || X || Y)[:4]
//
// read as a big-endian uint32. The signature bytes are the DER encoding of the
// SM2 signature SEQUENCE { r INTEGER, s INTEGER } over the note text, computed
// as SM3(Z || text) with the default signer ID "1234567812345678" (GM/T 0009).
//
// # Verifier keys
//
// An SM2 verifier key is written like the note package's Ed25519 verifier keys:
//
//	<name>+<key ID as 8 lower-case hex digits>+<base64(0xff || "tongxing/sm2-sm3" || 0x04 || X || Y)>
//
// for example
//
//	audit.tongxing.example+1a2b3c4d+/3Rvbmd4aW5nL3NtMi1zbTME...
//
// [NewVerifierFromKey] parses that string; [VerifierKey] produces it.
// Ed25519 co-signatures made by [NewEd25519Signer] are the standard signature
// type 0x01 and verify with note.NewVerifier and the key string of
// note.NewEd25519VerifierKey, so any signed-note tooling can check them.
package sm2note
