package authn

import (
	"encoding/asn1"
	"slices"
	"testing"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca"
)

func TestCertAMR(t *testing.T) {
	pol := ca.DefaultKeyStoragePolicies()
	with := func(oids ...asn1.ObjectIdentifier) *smx509.Certificate {
		return &smx509.Certificate{PolicyIdentifiers: oids}
	}
	other := asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 32473, 2, 2}
	tests := []struct {
		name    string
		storage KeyStorage
		cert    *smx509.Certificate
		want    []string
	}{
		{"ok/hardware-policy-hwk", pol, with(other, pol.Hardware), []string{"hwk"}},
		{"ok/software-policy-swk", pol, with(other, pol.Software), []string{"swk"}},
		{"ok/no-key-storage-policy-swk", pol, with(other), []string{"swk"}},
		{"ok/other-deployment-hardware-oid-swk", ca.KeyStoragePolicies{Software: asn1.ObjectIdentifier{1, 2, 3}, Hardware: asn1.ObjectIdentifier{1, 2, 4}},
			with(pol.Hardware), []string{"swk"}},
		{"ok/not-configured-swk", nil, with(pol.Hardware), []string{"swk"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &certLogin{keyStorage: tt.storage}
			if got := m.certAMR(tt.cert); !slices.Equal(got, tt.want) {
				t.Fatalf("amr %v, want %v", got, tt.want)
			}
		})
	}
}
