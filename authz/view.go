package authz

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// Agreement is one data-sharing agreement (共享协议) of a policy's data
// (data.tongxing.agreements.CONSUMER.RESOURCE[]), for people to read.
type Agreement struct {
	Consumer   string   `json:"-"`
	Resource   string   `json:"-"`
	ID         string   `json:"id"`
	Purposes   []string `json:"purposes"`
	Fields     []string `json:"fields"`
	ValidFrom  string   `json:"valid_from"`
	Expires    string   `json:"expires"`
	ApprovedBy string   `json:"approved_by"`
}

// Agreements returns the policy's sharing agreements, by consumer,
// resource and id. Load has checked their form.
func (p *Policy) Agreements() []Agreement {
	root, _ := p.data["tongxing"].(map[string]any)
	b, err := json.Marshal(root["agreements"])
	if err != nil {
		return nil
	}
	var all map[string]map[string][]Agreement
	if json.Unmarshal(b, &all) != nil {
		return nil
	}
	var out []Agreement
	for consumer, byRes := range all {
		for res, list := range byRes {
			for _, a := range list {
				a.Consumer, a.Resource = consumer, res
				out = append(out, a)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		x, y := out[i], out[j]
		if x.Consumer != y.Consumer {
			return x.Consumer < y.Consumer
		}
		if x.Resource != y.Resource {
			return x.Resource < y.Resource
		}
		return x.ID < y.ID
	})
	return out
}

// Resources returns the catalogue's resources by ID.
func (c *Catalogue) Resources() []*Resource {
	out := make([]*Resource, 0, len(c.resources))
	for _, r := range c.resources {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Revision is a stored bundle without its bytes: the revision history.
type Revision struct {
	Revision    string
	SHA256      string
	ActivatedAt time.Time
	ActivatedBy string
}

// Revisions returns up to limit (1..1000) stored bundles, the most
// recently activated first (the first is the active one).
func (s *Store) Revisions(ctx context.Context, limit int) ([]Revision, error) {
	if limit < 1 || limit > 1000 {
		return nil, fmt.Errorf("authz: revisions: limit %d is outside 1..1000", limit)
	}
	rows, err := s.db.Query(ctx, "SELECT revision, sha256, activated_ns, activated_by FROM authz_bundles ORDER BY activated_ns DESC, revision DESC LIMIT ?", limit)
	if err != nil {
		return nil, fmt.Errorf("authz: revisions: %w", err)
	}
	defer rows.Close()
	var out []Revision
	for rows.Next() {
		var r Revision
		var ns int64
		if err := rows.Scan(&r.Revision, &r.SHA256, &ns, &r.ActivatedBy); err != nil {
			return nil, fmt.Errorf("authz: revisions: %w", err)
		}
		r.ActivatedAt = time.Unix(0, ns).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}
