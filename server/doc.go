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
//	tls/server.crt         the server's certificate chain
//	secrets/passphrase     development only: the generated key passphrase (0600)
//	secrets/admin-token    development only: the first officer token (0600)
//	secrets/pseudonym.key  the key of citizen ID pseudonyms (0600)
package server
