package der

import (
	"bytes"
	"encoding/asn1"
	"math/big"
	"testing"
)

func TestMatchesEncodingASN1(t *testing.T) {
	long := bytes.Repeat([]byte{7}, 70000)
	tests := []struct {
		name string
		got  []byte
		want any
	}{
		{"ok/oid-short", OID(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}), asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}},
		{"ok/oid-sm2", OID(asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 301, 1}), asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 301, 1}},
		{"ok/oid-joint", OID(asn1.ObjectIdentifier{2, 999, 3}), asn1.ObjectIdentifier{2, 999, 3}},
		{"ok/int-zero", Int(0), 0},
		{"ok/int-negative", Int(-129), -129},
		{"ok/int-128", Int(128), 128},
		{"ok/bigint", BigInt(new(big.Int).Lsh(big.NewInt(1), 100)), new(big.Int).Lsh(big.NewInt(1), 100)},
		{"ok/octets-short", TLV(TagOctetString, []byte{1, 2}), []byte{1, 2}},
		{"ok/octets-200", TLV(TagOctetString, long[:200]), long[:200]},
		{"ok/octets-70000", TLV(TagOctetString, long), long},
		{"ok/octets-parts", TLV(TagOctetString, long[:100], long[:100]), long[:200]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, err := asn1.Marshal(tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(tc.got, want) {
				t.Fatalf("got %x\nwant %x", tc.got[:min(len(tc.got), 16)], want[:min(len(want), 16)])
			}
		})
	}
}

func TestInvalidOIDPanics(t *testing.T) {
	for _, oid := range []asn1.ObjectIdentifier{{1}, {3, 1}, {1, 40}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("OID(%v) did not panic", oid)
				}
			}()
			OID(oid)
		}()
	}
}
