// Package store opens Tongxing's relational database: SQLite (modernc.org/sqlite,
// pure Go, WAL mode, synchronous=FULL) as the embedded default and PostgreSQL
// (github.com/jackc/pgx/v5 through database/sql) for deployments with several
// replicas.
//
// Open applies the embedded schema migrations (store/migrations, run by
// github.com/pressly/goose/v3) before it returns, under a PostgreSQL advisory
// lock so that replicas starting together do not race.
//
// Queries are written once with '?' placeholders and portable SQL; [DB.Exec],
// [DB.Query] and [DB.QueryRow] rewrite the placeholders to $1, $2, ... on
// PostgreSQL. Each package that keeps state owns its tables and the SQL that
// touches them; this package owns only the connection and the schema history.
package store
