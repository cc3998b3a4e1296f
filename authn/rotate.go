package authn

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RotateDue rotates the signing keys of every algorithm whose current key
// has been in use for longer than maxAge, and returns the algorithms it
// rotated. Rotation makes the published next key current (it has been in
// the key set since the last rotation, so caches already hold it) and
// publishes a new next key; the old key stays published until its tokens
// expire. An algorithm whose next key is too new (ErrRotationTooSoon) is
// left for a later call. Replicas may call it concurrently.
func (p *Provider) RotateDue(ctx context.Context, maxAge time.Duration) ([]string, error) {
	if maxAge <= 0 {
		return nil, fmt.Errorf("%w: key rotation age must be positive", ErrConfig)
	}
	cutoff := p.now().Add(-maxAge)
	var due []string
	for _, alg := range signingAlgs {
		activated, err := p.keys.currentSince(ctx, alg)
		if err != nil {
			return nil, fmt.Errorf("authn: age of the current %s key: %w", alg, err)
		}
		if !activated.After(cutoff) {
			due = append(due, alg)
		}
	}
	var rotated []string
	for _, alg := range due {
		err := p.Rotate(ctx, alg)
		if errors.Is(err, ErrRotationTooSoon) {
			continue
		}
		if err != nil {
			return rotated, err
		}
		rotated = append(rotated, alg)
	}
	return rotated, nil
}
