package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Dialect names the SQL database behind a [DB].
type Dialect int

const (
	// SQLite is the embedded single-node database.
	SQLite Dialect = iota + 1
	// Postgres is PostgreSQL, shared by replicas.
	Postgres
)

// String returns "sqlite" or "postgres".
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return "unknown"
}

// DB is an open, migrated database. It is safe for concurrent use.
type DB struct {
	sql     *sql.DB
	dialect Dialect
	stmts   sync.Map // query text -> *sql.Stmt, see [DB.QueryRowPrepared]
}

// IsPostgresDSN reports whether dsn names a PostgreSQL server rather than a
// SQLite file.
func IsPostgresDSN(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// SQLitePath is the file of a SQLite dsn: dsn without its optional
// "sqlite:" prefix.
func SQLitePath(dsn string) string { return strings.TrimPrefix(dsn, "sqlite:") }

// Open connects to the database named by dsn and applies pending migrations.
//
// A dsn starting with postgres:// or postgresql:// opens PostgreSQL; anything
// else is a SQLite file path, optionally prefixed with "sqlite:". The SQLite
// file's directory is created (0700) if missing. SQLite runs in WAL mode with
// synchronous=FULL, so a committed transaction survives a crash of the process
// or the machine.
func Open(ctx context.Context, dsn string) (*DB, error) {
	if dsn == "" {
		return nil, errors.New("store: empty database name")
	}
	var (
		db  *DB
		err error
	)
	if IsPostgresDSN(dsn) {
		db, err = openPostgres(ctx, dsn)
	} else {
		db, err = openSQLite(ctx, SQLitePath(dsn))
	}
	if err != nil {
		return nil, err
	}
	if err := db.migrate(ctx); err != nil {
		db.sql.Close()
		return nil, err
	}
	return db, nil
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("store: create directory for %s: %w", path, err)
		}
	}
	// SQLite creates the database with the umask's mode (0644 under the
	// usual 022) and gives its -wal and -shm files the database's mode.
	// The database holds personal data: create it readable by this user
	// alone, whoever made the directory.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	f.Close()
	q := "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(30000)&_pragma=foreign_keys(1)&_txlock=immediate&_time_format=sqlite"
	sdb, err := sql.Open("sqlite", "file:"+path+q)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	sdb.SetMaxOpenConns(8)
	sdb.SetMaxIdleConns(8)
	sdb.SetConnMaxIdleTime(0)
	if err := sdb.PingContext(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	var mode string
	if err := sdb.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		sdb.Close()
		return nil, fmt.Errorf("store: sqlite %s: journal_mode is %q, want wal: %v", path, mode, err)
	}
	return &DB{sql: sdb, dialect: SQLite}, nil
}

func openPostgres(ctx context.Context, dsn string) (*DB, error) {
	sdb, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	sdb.SetMaxOpenConns(32)
	sdb.SetMaxIdleConns(16)
	sdb.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := sdb.PingContext(pctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("store: connect to postgres %s: %w", redactDSN(dsn), err)
	}
	return &DB{sql: sdb, dialect: Postgres}, nil
}

// redactDSN removes a password from a PostgreSQL URL for error messages.
func redactDSN(dsn string) string {
	at := strings.LastIndex(dsn, "@")
	scheme := strings.Index(dsn, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return dsn
	}
	userinfo := dsn[scheme+3 : at]
	if i := strings.Index(userinfo, ":"); i >= 0 {
		return dsn[:scheme+3] + userinfo[:i] + ":xxxxx" + dsn[at:]
	}
	return dsn
}

func (db *DB) migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	var opts []goose.ProviderOption
	dialect := goose.DialectSQLite3
	if db.dialect == Postgres {
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return fmt.Errorf("store: migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, db.sql, fsys, opts...)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: apply migrations: %w", err)
	}
	return nil
}

// SchemaVersion returns the newest applied migration version.
func (db *DB) SchemaVersion(ctx context.Context) (int64, error) {
	var v sql.NullInt64
	err := db.QueryRow(ctx, "SELECT MAX(version_id) FROM goose_db_version WHERE is_applied").Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return v.Int64, nil
}

// Dialect reports which database this is.
func (db *DB) Dialect() Dialect { return db.dialect }

// SQL returns the underlying connection pool, for code that needs a dedicated
// connection (for example to hold a PostgreSQL advisory lock). Queries sent
// through it are not rebound.
func (db *DB) SQL() *sql.DB { return db.sql }

// Rebind rewrites '?' placeholders to $1, $2, ... for PostgreSQL. Question marks
// inside single-quoted string literals are left alone.
func (db *DB) Rebind(query string) string { return rebind(db.dialect, query) }

func rebind(d Dialect, query string) string {
	if d != Postgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n, quoted := 0, false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'':
			quoted = !quoted
			b.WriteByte(c)
		case c == '?' && !quoted:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Exec runs a statement that returns no rows.
func (db *DB) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return db.sql.ExecContext(ctx, db.Rebind(query), args...)
}

// Query runs a statement that returns rows.
func (db *DB) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return db.sql.QueryContext(ctx, db.Rebind(query), args...)
}

// QueryRow runs a statement that returns at most one row.
func (db *DB) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return db.sql.QueryRowContext(ctx, db.Rebind(query), args...)
}

// prepared returns query prepared on the pool, once per DB: SQLite
// otherwise compiles the SQL on every call. database/sql prepares it again
// on each connection the first time it runs there. A failed prepare is not
// kept, so the next call tries again.
func (db *DB) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := db.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := db.sql.PrepareContext(ctx, db.Rebind(query))
	if err != nil {
		return nil, fmt.Errorf("store: prepare %q: %w", query, err)
	}
	if prev, loaded := db.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// QueryRowPrepared is [DB.QueryRow] for a hot path: the statement is
// prepared once and kept until Close. query must be constant text (each
// distinct text is kept).
func (db *DB) QueryRowPrepared(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := db.prepared(ctx, query)
	if err != nil {
		return db.QueryRow(ctx, query, args...) // reports the error through Scan
	}
	return st.QueryRowContext(ctx, args...)
}

// Tx is a transaction begun by [DB.InTx]. Its methods rebind placeholders like
// those of [DB].
type Tx struct {
	tx      *sql.Tx
	dialect Dialect
	db      *DB
}

// ExecPrepared is [Tx.Exec] for a hot path: the statement is prepared once
// on the DB (see [DB.QueryRowPrepared]) and bound to the transaction.
func (tx *Tx) ExecPrepared(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := tx.db.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return tx.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
}

// Exec runs a statement inside the transaction.
func (tx *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return tx.tx.ExecContext(ctx, rebind(tx.dialect, query), args...)
}

// Query runs a query inside the transaction.
func (tx *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return tx.tx.QueryContext(ctx, rebind(tx.dialect, query), args...)
}

// QueryRow runs a single-row query inside the transaction.
func (tx *Tx) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return tx.tx.QueryRowContext(ctx, rebind(tx.dialect, query), args...)
}

// Dialect reports which database the transaction runs on.
func (tx *Tx) Dialect() Dialect { return tx.dialect }

// InTx runs fn in a transaction, committing if fn returns nil and rolling back
// otherwise. On SQLite the transaction takes the write lock when it begins
// (BEGIN IMMEDIATE), so concurrent writers queue instead of failing.
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	stx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(&Tx{tx: stx, dialect: db.dialect, db: db}); err != nil {
		_ = stx.Rollback()
		return err
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// Ping checks that the database answers; readiness probes use it.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.sql.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping %s: %w", db.dialect, err)
	}
	return nil
}

// Close closes the connection pool.
func (db *DB) Close() error {
	db.stmts.Range(func(k, st any) bool {
		st.(*sql.Stmt).Close()
		db.stmts.Delete(k)
		return true
	})
	return db.sql.Close()
}

// IsUniqueViolation reports whether err is a unique or primary-key constraint
// violation on either database.
func IsUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		code := se.Code()
		return code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}
