// Package interop holds end-to-end tests that check what Tongxing issues
// against implementations written elsewhere: the OpenSSL 3 command line
// (openssl verify, openssl x509), Go's crypto/x509, and
// github.com/tjfoc/gmsm/x509 as an independent SM2/SM3 implementation.
//
// The tests run in a normal `go test ./...`. Those that need the openssl
// binary skip, saying so, when it is not on PATH.
package interop
