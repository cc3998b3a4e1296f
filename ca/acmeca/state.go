package acmeca

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/smallstep/certificates/db"
	"github.com/smallstep/nosql"

	"github.com/tongxing/tongxing/ca"
)

// PostgresSchema is the PostgreSQL schema of the ACME state (see [WithPostgres]).
const PostgresSchema = "acme"

// stateLockKey is the PostgreSQL advisory lock that serialises creating the
// schema and its tables when replicas start together.
const stateLockKey int64 = 0x61636d65 // "acme"

// openState opens step-ca's database (nosql: bbolt or PostgreSQL), which
// holds both step-ca's certificate records and the ACME state.
func openState(ctx context.Context, o *options) (*db.DB, error) {
	switch {
	case o.stateDir != "" && o.postgres != "":
		return nil, errors.New("acmeca: WithStateDir and WithPostgres are exclusive")
	case o.stateDir != "":
		if err := os.MkdirAll(o.stateDir, 0o700); err != nil {
			return nil, fmt.Errorf("acmeca: state directory: %w", err)
		}
		return openNoSQL(&db.Config{Type: nosql.BBoltDriver, DataSource: filepath.Join(o.stateDir, "acme.db")})
	case o.postgres != "":
		return openPostgres(ctx, o.postgres)
	default:
		return nil, errors.New("acmeca: no ACME state store: pass WithStateDir or WithPostgres")
	}
}

func openNoSQL(cfg *db.Config) (*db.DB, error) {
	adb, err := db.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("acmeca: open %s state: %w", cfg.Type, err)
	}
	d, ok := adb.(*db.DB)
	if !ok {
		adb.Shutdown()
		return nil, fmt.Errorf("acmeca: step-ca returned a %T database", adb)
	}
	return d, nil
}

// openPostgres creates the schema "acme" when missing and opens step-ca's
// PostgreSQL driver with that schema as its search path, holding an advisory
// lock so that replicas starting at once do not race creating tables.
func openPostgres(ctx context.Context, dsn string) (*db.DB, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("acmeca: connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", stateLockKey); err != nil {
		return nil, fmt.Errorf("acmeca: lock ACME state: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", stateLockKey) //nolint:errcheck // closing the connection releases it too
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+PostgresSchema); err != nil {
		return nil, fmt.Errorf("acmeca: create schema %s: %w", PostgresSchema, err)
	}
	withPath, err := withSearchPath(dsn, PostgresSchema)
	if err != nil {
		return nil, err
	}
	d, err := openNoSQL(&db.Config{Type: nosql.PostgreSQLDriver, DataSource: withPath})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// withSearchPath sets the search_path run-time parameter of a PostgreSQL
// connection string, URL or key=value form.
func withSearchPath(dsn, schema string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("acmeca: PostgreSQL URL: %w", err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return strings.TrimSpace(dsn) + " search_path=" + schema, nil
}

// authDB is step-ca's database with revocation status taken from Tongxing's
// inventory, so that a certificate an officer revoked is "already revoked"
// to ACME clients too.
type authDB struct {
	*db.DB
	ca  *ca.Authority
	ctx context.Context
}

// IsRevoked reports whether the certificate with the decimal serial sn is
// revoked in the inventory; for serials the inventory does not hold, it asks
// step-ca's own records.
func (d *authDB) IsRevoked(sn string) (bool, error) {
	n, ok := new(big.Int).SetString(sn, 10)
	if !ok {
		return d.DB.IsRevoked(sn)
	}
	rec, err := d.ca.Certificate(d.ctx, ca.SerialHex(n))
	switch {
	case errors.Is(err, ca.ErrNotFound):
		return d.DB.IsRevoked(sn)
	case err != nil:
		return false, err
	}
	return rec.Status == ca.StatusRevoked, nil
}
