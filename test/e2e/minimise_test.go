package e2e

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/test/serverproc"
)

// TestCodesHoldNoIDNumber is finding 6 of issue 9 through the real binary:
// after a registration officer vets a citizen, and after the citizen
// enrols, ca_enrolment_codes holds no full ID number.
func TestCodesHoldNoIDNumber(t *testing.T) {
	const id = "11010519491231002X"
	dir := t.TempDir()
	in := serverproc.Start(t, binary, dir)
	defer in.Stop(syscall.SIGTERM)
	count := func() int {
		db, err := store.Open(context.Background(), filepath.Join(dir, "tongxing-data", "tongxing.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n, all int
		if err := db.QueryRow(context.Background(), "SELECT COUNT(*) FROM ca_enrolment_codes WHERE subject_json LIKE ?", "%"+id+"%").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(context.Background(), "SELECT COUNT(*) FROM ca_enrolment_codes").Scan(&all); err != nil || all == 0 {
			t.Fatalf("no codes stored: %v", err)
		}
		return n
	}
	if out, err := in.CLI("ca", "enrol-code", "--profile", "citizen", "--name", "张三", "--id-number", id); err != nil {
		t.Fatalf("enrol-code: %v\n%s", err, out)
	}
	if n := count(); n != 0 {
		t.Errorf("an unused citizen code holds the ID number (%d rows)", n)
	}
	in.Enrol(t, "zhangsan", "--profile", "citizen", "--name", "张三", "--id-number", id)
	if n := count(); n != 0 {
		t.Errorf("after enrolment %d codes hold the ID number", n)
	}
}
