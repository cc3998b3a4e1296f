package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"github.com/tongxing/tongxing/forwarded"
	"github.com/tongxing/tongxing/store"
)

// Listeners are the sockets `serve` answers on. [Listen] binds them before
// anything is written, so a second server on the same ports or the same
// SQLite database fails before it touches the data directory.
type Listeners struct {
	// Main is the TLS listener of every service (listen).
	Main net.Listener
	// Gateway is the gateway's TLS listener (gateway.listen); nil when no
	// department has an upstream.
	Gateway net.Listener
	// HTTP is the plain-HTTP repository listener (http_listen); nil when
	// it is off.
	HTTP net.Listener

	lock *os.File
}

// Listen binds the listeners cfg asks for and, on SQLite, takes the
// database's single-process lock. Connections from cfg.TrustedProxies may
// begin with a PROXY protocol header (see package forwarded).
func Listen(cfg *Config) (*Listeners, error) {
	trust, err := forwarded.New(cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("config: trusted_proxies: %w", err)
	}
	ls := &Listeners{}
	ok := false
	defer func() {
		if !ok {
			ls.Close()
		}
	}()
	if !store.IsPostgresDSN(cfg.Database) {
		if ls.lock, err = lockSQLite(store.SQLitePath(cfg.Database)); err != nil {
			return nil, err
		}
	}
	bind := func(key, addr string) (net.Listener, error) {
		ln, err := net.Listen("tcp", addr)
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%s %s is in use: is another tongxing serve (or another program) listening there? Choose another address with --%s or %q in the configuration", key, addr, flagOf(key), key)
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", key, addr, err)
		}
		return trust.Listener(ln), nil
	}
	if ls.Main, err = bind("listen", cfg.Listen); err != nil {
		return nil, err
	}
	if cfg.gatewayListens() {
		if ls.Gateway, err = bind("gateway.listen", cfg.Gateway.Listen); err != nil {
			return nil, err
		}
	}
	if cfg.HTTPListen != "" {
		if ls.HTTP, err = bind("http_listen", cfg.HTTPListen); err != nil {
			return nil, err
		}
	}
	ok = true
	return ls, nil
}

func flagOf(key string) string {
	switch key {
	case "listen":
		return "listen"
	case "http_listen":
		return "http-listen"
	}
	return "config"
}

// Close closes every listener and releases the database lock.
func (ls *Listeners) Close() error {
	var errs []error
	for _, ln := range []net.Listener{ls.Main, ls.Gateway, ls.HTTP} {
		if ln != nil {
			if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
	}
	if ls.lock != nil {
		errs = append(errs, ls.lock.Close()) // closing the file drops the flock
		ls.lock = nil
	}
	return errors.Join(errs...)
}

// lockSQLite takes an exclusive advisory lock on DB.lock next to the SQLite
// database: SQLite serves one tongxing process; replicas share PostgreSQL.
func lockSQLite(db string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(db), 0o700); err != nil {
		return nil, err
	}
	path := db + ".lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another tongxing serve is using the SQLite database %s (one process per SQLite database; replicas share a PostgreSQL database, see docs/OPERATIONS.md)", db)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}
