package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// servePprof serves net/http/pprof on cfg.PprofListen until ctx ends; off
// when it is empty.
func (s *Server) servePprof(ctx context.Context) error {
	if s.cfg.PprofListen == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(s.cfg.PprofListen)
	if err != nil {
		return fmt.Errorf("config: pprof_listen %q is not host:port: %w", s.cfg.PprofListen, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("config: pprof_listen %q: the profiler is served on loopback addresses only", s.cfg.PprofListen)
	}
	ln, err := net.Listen("tcp", s.cfg.PprofListen)
	if err != nil {
		return fmt.Errorf("pprof_listen %s: %w", s.cfg.PprofListen, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn("pprof listener", "err", err)
		}
	}()
	s.log.Warn("serving the Go profiler: keep pprof_listen on loopback and off in production", "addr", ln.Addr().String())
	return nil
}
