package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/tongxing/tongxing/forwarded"
)

// Serve answers on ls (bound by [Listen]; nil binds them now) until ctx
// ends, then drains: /readyz answers 503 at once, after cfg.DrainDelay the
// listeners stop accepting and in-flight requests finish within
// cfg.ShutdownTimeout. [Server.Close] then commits what is pending and
// releases the audit sequencer for another replica. ready, if not nil,
// receives the main listener's address once it serves.
//
// Requests from cfg.TrustedProxies may name the real client in Forwarded
// or X-Forwarded-For; connections from them may start with a PROXY
// protocol header (see package forwarded).
func (s *Server) Serve(ctx context.Context, ls *Listeners, ready chan<- net.Addr) error {
	if ls == nil {
		var err error
		if ls, err = Listen(&s.cfg); err != nil {
			return err
		}
		defer ls.Close()
	}
	trust, err := forwarded.New(s.cfg.TrustedProxies)
	if err != nil {
		return err
	}
	s.trust = trust
	srv := &http.Server{
		Handler:           trust.Handler(s.handler),
		TLSConfig:         s.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	stopHTTP := func(context.Context) error { return nil }
	if ls.HTTP != nil {
		stopHTTP = s.servePlainHTTP(ctx, ls.HTTP, trust)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ls.Main, "", "") }()
	bg, stopBG := context.WithCancel(ctx)
	defer stopBG()
	go s.refreshCRLs(bg)
	go s.refreshOCSP(bg)
	go s.ocsp.Listen(bg)
	go s.purgeSignOn(bg)
	go s.caHousekeeping(bg)
	if err := s.servePprof(bg); err != nil {
		srv.Close()
		return errors.Join(err, stopHTTP(context.WithoutCancel(ctx)))
	}
	stopGateway, err := s.startGateway(bg, ls.Gateway)
	if err != nil {
		srv.Close()
		return errors.Join(err, stopHTTP(context.WithoutCancel(ctx)))
	}
	s.log.Info("serving", "addr", ls.Main.Addr().String(), "public_url", s.cfg.PublicURL, "database", s.db.Dialect().String(), "replica", s.cfg.ReplicaID)
	if ready != nil {
		ready <- ls.Main.Addr()
	}
	select {
	case err := <-errc:
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
		defer cancel()
		return errors.Join(err, stopGateway(sctx), stopHTTP(sctx))
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.log.Info("shutting down: draining, /readyz reports unready", "drain_delay", s.cfg.DrainDelay, "shutdown_timeout", s.cfg.ShutdownTimeout)
	if s.cfg.DrainDelay > 0 {
		time.Sleep(s.cfg.DrainDelay) // orchestrators with active checks stop sending meanwhile
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	err = errors.Join(stopGateway(sctx), srv.Shutdown(sctx), stopHTTP(sctx))
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	s.log.Info("drained: listeners closed, in-flight requests finished")
	return err
}
