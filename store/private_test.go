package store

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestSQLiteFilesPrivate: the SQLite database holds citizens' names,
// e-mail addresses, phone numbers, postal addresses and password hashes,
// and the subjects (full ID numbers included) of pending enrolment codes.
// Its files must be readable by the server's user alone, also when the
// directory they are created in was made by someone else with the usual
// 0755 (a pre-created --data directory, a container volume, a
// `database:` path outside the data directory) and the umask is 022.
func TestSQLiteFilesPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tongxing.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.SQL().ExecContext(context.Background(), "CREATE TABLE secrets_probe (x TEXT)"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %04o: group and others can read the database", filepath.Base(f), perm)
		}
	}
}
