package timestamp

import (
	"bytes"
	"testing"
)

// TestGrantedHeader: the header the handler writes before a granted token
// is exactly what Marshal puts there, for tokens whose lengths need one to
// three length octets.
func TestGrantedHeader(t *testing.T) {
	for _, n := range []int{0, 1, 100, 122, 123, 200, 1000, 70000} {
		tok := bytes.Repeat([]byte{0xab}, n)
		want, err := (&TimeStampResp{Status: StatusGranted, Token: tok}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got := append(grantedHeader(n), tok...)
		if !bytes.Equal(got, want) {
			t.Fatalf("token of %d bytes: header %x, want %x", n, got[:len(got)-n], want[:len(want)-n])
		}
	}
}
