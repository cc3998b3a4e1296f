// Package server wires Tongxing's services into one HTTPS server: it opens
// the store, loads (or on a first development start creates) the CA
// hierarchies, issues the server's own TLS certificate from the intl chain,
// mounts every package's routes with health (/healthz, /readyz) and
// Prometheus metrics (/metrics), and shuts down gracefully.
//
// Layout of the data directory:
//
//	config.yaml            configuration kept with the data (read without --config)
//	tongxing.db            SQLite database (unless a PostgreSQL URL is configured)
//	pki/NAME.crt           CA certificates (gm-root, gm-issuing, intl-root, intl-issuing)
//	keys/NAME.key          private keys, encrypted PKCS#8 (PBES2, HMAC-SM3, SM4-CBC)
//	keys/NAME.secret       secrets such as kmc-master, encrypted the same way (RFC 6031)
//	tls/server.crt         the server's certificate chain
//	secrets/passphrase     development only: the generated key passphrase (0600)
//	secrets/ROLE-token     development only: the token of the first sysadmin, ra
//	                       and auditor officer (0600), one file each
//	secrets/metrics-token  the bearer token that may read /metrics (0600)
//	secrets/pseudonym.key  the key of citizen ID pseudonyms (0600)
//
// A data directory of an earlier version is brought up to date at start:
// secrets/admin-token (its token is now a sysadmin officer's) is renamed
// secrets/sysadmin-token, the raw secrets/kmc-master.key is re-wrapped as
// keys/kmc-master.secret and removed, and roles without a usable officer
// get a first one (see package access).
package server
