// Package gateway_test runs the real tongxing binary with the gateway in
// front of two real HTTPS upstreams (公安 gongan and 人社 renshe) that check
// every call's evidence with Tongxing's published keys only.
package gateway_test

import (
	"testing"

	"github.com/tongxing/tongxing/test/serverproc"
)

var binary string

func TestMain(m *testing.M) { serverproc.Main(m, &binary) }
