package authz

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Loader keeps an engine on the store's active bundle.
type Loader struct {
	Store    *Store
	Verifier *Verifier // required: only signed bundles are loaded from the store
	Engine   *Engine
	Logger   *slog.Logger
	// OnError is called when the active bundle cannot be loaded (the
	// engine keeps its policy); optional.
	OnError func(error)
}

// LoadActive loads the store's active bundle into the engine unless its
// revision is the engine's already. It returns the loaded revision, or
// ErrNoBundle.
func (l *Loader) LoadActive(ctx context.Context) (string, error) {
	rev, err := l.Store.ActiveRevision(ctx)
	if err != nil {
		return "", err
	}
	if p := l.Engine.Current(); p != nil && p.Revision() == rev {
		return rev, nil
	}
	a, err := l.Store.Active(ctx)
	if err != nil {
		return "", err
	}
	b, err := Read(bytes.NewReader(a.Bundle), l.Verifier)
	if err != nil {
		return "", fmt.Errorf("authz: active bundle %q: %w", a.Revision, err)
	}
	if b.Manifest.Revision != a.Revision {
		return "", fmt.Errorf("authz: active bundle stored as %q says revision %q", a.Revision, b.Manifest.Revision)
	}
	p, err := Load(ctx, b)
	if err != nil {
		return "", err
	}
	prev := l.Engine.Swap(p)
	if l.Logger != nil {
		from := ""
		if prev != nil {
			from = prev.Revision()
		}
		l.Logger.InfoContext(ctx, "policy bundle loaded", "revision", p.Revision(), "previous", from, "activated_by", a.ActivatedBy)
	}
	return p.Revision(), nil
}

// Watch calls LoadActive every interval until ctx ends, so that a bundle
// activated on any replica is in force here within about one interval.
// Failures are logged and reported to OnError; the current policy stays.
func (l *Loader) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := l.LoadActive(ctx); err != nil && !errors.Is(err, ErrNoBundle) && ctx.Err() == nil {
			if l.OnError != nil {
				l.OnError(err)
			}
			if err.Error() != lastErr && l.Logger != nil {
				l.Logger.ErrorContext(ctx, "policy bundle not loaded; the previous policy stays in force", "err", err)
			}
			lastErr = err.Error()
		} else {
			lastErr = ""
		}
	}
}
