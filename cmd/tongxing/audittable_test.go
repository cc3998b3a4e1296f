package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestAuditTable prints auditlog's golden entries as a table and as JSON
// lines: the table has a header and one aligned row per entry, with the
// control characters of a crafted reason replaced so that no value can
// break the columns; --json passes the canonical entry through unchanged.
func TestAuditTable(t *testing.T) {
	raw, err := os.ReadFile("../../auditlog/testdata/entry-extended.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.TrimSpace(raw)
	var table bytes.Buffer
	if err := printAudit(&table, false, []json.RawMessage{raw, raw}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(table.String(), "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "INDEX") {
		t.Fatalf("table:\n%s", table.String())
	}
	for _, want := range []string{"42", "官员张三", "gateway.call", "(minzheng)", "allow", "200", "agreement 2025-17; tab here newline"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row lacks %q: %s", want, lines[1])
		}
	}
	if strings.ContainsAny(lines[1], "\t\x01\u2028") || displayWidth(lines[0][:strings.Index(lines[0], "ACTION")]) != displayWidth(lines[1][:strings.Index(lines[1], "gateway.call")]) {
		t.Errorf("row not aligned or not clean:\n%q\n%q", lines[0], lines[1])
	}
	var js bytes.Buffer
	if err := printAudit(&js, true, []json.RawMessage{raw}); err != nil {
		t.Fatal(err)
	}
	if js.String() != string(raw)+"\n" {
		t.Errorf("--json changed the entry:\n%s", js.String())
	}
	if err := printAudit(&js, false, []json.RawMessage{json.RawMessage(`{"index":"x"}`)}); err == nil {
		t.Error("a malformed entry was printed")
	}
}
