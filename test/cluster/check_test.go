package cluster

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/tongxing/tongxing/auditlog"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/timestamp"
)

// verifyTokens checks every granted token against the CA roots and its
// data, and that no two share a serial.
func (c *cluster) verifyTokens(t *testing.T, st *stats) {
	t.Helper()
	seen := map[string]bool{}
	for i, r := range st.tokens {
		info, err := timestamp.VerifyToken(r.token, timestamp.VerifyOptions{Data: r.data, Roots: c.roots, Intermediates: c.inter})
		if err != nil {
			t.Errorf("token %d does not verify: %v", i, err)
			continue
		}
		s := info.SerialNumber.String()
		if seen[s] {
			t.Errorf("serial %s granted twice", s)
		}
		seen[s] = true
	}
}

// checkDatabase finds every acknowledged certificate in the inventory with
// its issuance audit entry, and a timestamp token on every checkpoint.
func checkDatabase(t *testing.T, dsn string, st *stats) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	audited := map[string]bool{}
	rows, err := db.Query(ctx, "SELECT idx, body FROM audit_entries WHERE action = 'ca.certificate.issue'")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var idx uint64
		var body []byte
		if err := rows.Scan(&idx, &body); err != nil {
			t.Fatal(err)
		}
		e, err := auditlog.ParseEntry(body)
		if err != nil {
			t.Fatalf("audit entry %d: %v", idx, err)
		}
		audited[strings.TrimPrefix(e.Object.Resource, "ca:certificate:")] = true
	}
	rows.Close()
	missing, unaudited := 0, 0
	for _, serial := range st.certs {
		var n int
		if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM ca_certificates WHERE serial = ?", serial).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			missing++
			t.Errorf("acknowledged certificate %s is not in the inventory", serial)
		}
		if !audited[serial] {
			unaudited++
			t.Errorf("acknowledged certificate %s has no issuance audit entry", serial)
		}
	}
	var untimed, checkpoints int
	if err := db.QueryRow(ctx, "SELECT COUNT(*), COUNT(*) - COUNT(tst) FROM audit_checkpoints").Scan(&checkpoints, &untimed); err != nil {
		t.Fatal(err)
	}
	if untimed != 0 {
		t.Errorf("%d of %d checkpoints have no timestamp token", untimed, checkpoints)
	}
	sources := map[string]int{}
	rows, err = db.Query(ctx, "SELECT body FROM audit_entries WHERE action = 'authn.login.failure'")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			t.Fatal(err)
		}
		e, err := auditlog.ParseEntry(body)
		if err != nil {
			t.Fatal(err)
		}
		host, _, _ := net.SplitHostPort(e.Actor.SourceAddr)
		sources[host]++
	}
	rows.Close()
	if sources[addrAttacker] < 20 || sources["127.0.0.1"] != 0 {
		t.Errorf("failed logins by source address in the audit log: %v (want the attacker's %s, never the balancer's 127.0.0.1)", sources, addrAttacker)
	}
	t.Logf("inventory: %d acknowledged certificates, %d missing, %d without an audit entry; %d checkpoints, all timestamped: %v",
		len(st.certs), missing, unaudited, checkpoints, untimed == 0)
}
