package authz

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// DecisionQuery is the query the gateway evaluates.
const DecisionQuery = "data.tongxing.gateway.decision"

// ErrNoPolicy is returned by [Engine.Decide] before any policy is loaded.
var ErrNoPolicy = errors.New("authz: no policy loaded")

// Caller is the verified caller of a gateway call.
type Caller struct {
	Department string // department id
	Service    string // service name (certificate) or "" (token)
	Client     string // OAuth client id, for token callers
	ID         string // the identity recorded: SPIFFE ID or "client:ID"
	Via        string // "mtls" or "token"
}

// Citizen says which citizen a call concerns, pseudonymised.
type Citizen struct {
	// ActedFor is the audit hash of the citizen a token-exchange call acts
	// for, or "".
	ActedFor string
	// ActedForID is the ID-number pseudonym of that citizen's account, or
	// "" if none is recorded.
	ActedForID string
	// Named is the ID-number pseudonym of the citizen the request names in
	// the resource's identifying field, or "".
	Named string
}

// Input is what a decision is asked about. The policy sees it as
//
//	{"caller": {"department", "service", "client", "id", "via"},
//	 "target": {"department"}, "resource": {"id"}, "purpose",
//	 "citizen": {"acted_for", "acted_for_id", "named"},
//	 "time_ns", "method", "path"}
//
// Path is the request path with the citizen's identifying parameter
// replaced, never a clear ID number.
type Input struct {
	Caller     Caller
	Target     string
	ResourceID string
	Purpose    string
	Citizen    Citizen
	Time       time.Time
	Method     string
	Path       string
}

// Value returns the input as the AST object the policy evaluates.
// Invalid UTF-8 in a field is replaced by U+FFFD, so the value is always
// representable as JSON.
func (in *Input) Value() ast.Value {
	str := func(s string) *ast.Term { return ast.StringTerm(strings.ToValidUTF8(s, "\uFFFD")) }
	return ast.NewObject(
		ast.Item(str("caller"), ast.ObjectTerm(
			ast.Item(str("department"), str(in.Caller.Department)),
			ast.Item(str("service"), str(in.Caller.Service)),
			ast.Item(str("client"), str(in.Caller.Client)),
			ast.Item(str("id"), str(in.Caller.ID)),
			ast.Item(str("via"), str(in.Caller.Via)),
		)),
		ast.Item(str("target"), ast.ObjectTerm(ast.Item(str("department"), str(in.Target)))),
		ast.Item(str("resource"), ast.ObjectTerm(ast.Item(str("id"), str(in.ResourceID)))),
		ast.Item(str("purpose"), str(in.Purpose)),
		ast.Item(str("citizen"), ast.ObjectTerm(
			ast.Item(str("acted_for"), str(in.Citizen.ActedFor)),
			ast.Item(str("acted_for_id"), str(in.Citizen.ActedForID)),
			ast.Item(str("named"), str(in.Citizen.Named)),
		)),
		ast.Item(str("time_ns"), ast.IntNumberTerm(int(in.Time.UnixNano()))),
		ast.Item(str("method"), str(in.Method)),
		ast.Item(str("path"), str(in.Path)),
	)
}

// Decision is the policy's answer.
type Decision struct {
	Allow   bool
	Reasons []string
	// Fields, when FilterFields is true, are the only response fields the
	// caller may receive (data minimisation).
	Fields       []string
	FilterFields bool
	// Agreement is the id of the sharing agreement used, if any.
	Agreement  string
	LegalBasis string
	// Revision is the bundle revision that decided.
	Revision string
	// Error is set when evaluation failed; the decision is then a denial.
	Error error
}

// Policy is one loaded bundle: its revision, prepared decision query and
// catalogue. It is immutable and safe for concurrent use.
type Policy struct {
	revision  string
	catalogue *Catalogue
	query     rego.PreparedEvalQuery
	loadedAt  time.Time
	modules   map[string]*ast.Module
	store     storage.Store
	data      map[string]any // the bundle's own data, without the grant index
	ev        evaluators
}

// Load compiles a bundle: data into a read-optimised in-memory store, the
// decision query prepared, the catalogue parsed. It does NOT verify
// signatures; [Read] does.
func Load(ctx context.Context, b *bundle.Bundle) (*Policy, error) {
	if b == nil {
		return nil, errors.New("authz: nil bundle")
	}
	cat, err := ParseCatalogue(b.Data)
	if err != nil {
		return nil, err
	}
	if err := checkAgreements(b.Data); err != nil {
		return nil, err
	}
	if err := checkNegativeList(b.Data); err != nil {
		return nil, err
	}
	modules := map[string]*ast.Module{}
	for _, m := range b.Modules {
		if m.Parsed == nil {
			return nil, fmt.Errorf("authz: module %s is not parsed", m.Path)
		}
		modules[m.Path] = m.Parsed
	}
	// The modules are compiled once, for the indexes and the decision.
	comp := ast.NewCompiler()
	if comp.Compile(modules); comp.Failed() {
		return nil, fmt.Errorf("authz: compile bundle %q: %w", b.Manifest.Revision, comp.Errors)
	}
	data, err := withIndexes(ctx, b.Data, comp)
	if err != nil {
		return nil, err
	}
	store := inmem.NewFromObjectWithOpts(data, inmem.OptReturnASTValuesOnRead(true), inmem.OptRoundTripOnWrite(false))
	opts := []func(*rego.Rego){
		rego.Query(DecisionQuery),
		rego.Store(store),
		rego.StoreReadAST(true),
		rego.StrictBuiltinErrors(true),
		rego.Compiler(comp),
	}
	q, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("authz: compile bundle %q: %w", b.Manifest.Revision, err)
	}
	return &Policy{revision: b.Manifest.Revision, catalogue: cat, query: q, loadedAt: time.Now(), modules: modules, store: store, data: b.Data, ev: newEvaluators()}, nil
}

// Revision returns the bundle revision.
func (p *Policy) Revision() string { return p.revision }

// Catalogue returns the resource catalogue.
func (p *Policy) Catalogue() *Catalogue { return p.catalogue }

// LoadedAt returns when the policy was loaded in this process.
func (p *Policy) LoadedAt() time.Time { return p.loadedAt }

// Decide evaluates the decision for in. An evaluation error, or a result
// that is not a decision document, gives a denial with Error set.
func (p *Policy) Decide(ctx context.Context, in *Input) *Decision {
	return p.ev.decide(ctx, p, in)
}

// decide evaluates on the calling goroutine.
func (p *Policy) decide(ctx context.Context, in *Input) *Decision {
	d := &Decision{Revision: p.revision}
	rs, err := p.query.Eval(ctx, rego.EvalParsedInput(in.Value()))
	if err != nil {
		return deny(d, fmt.Errorf("authz: evaluate: %w", err))
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return deny(d, errors.New("authz: the policy produced no decision"))
	}
	return parseDecision(d, rs[0].Expressions[0].Value)
}

func deny(d *Decision, err error) *Decision {
	d.Allow, d.Error = false, err
	d.Reasons = []string{"policy evaluation failed: denied"}
	d.Fields, d.FilterFields = nil, false
	return d
}

// parseDecision reads the decision document; anything malformed denies.
func parseDecision(d *Decision, v any) *Decision {
	m, ok := v.(map[string]any)
	if !ok {
		return deny(d, fmt.Errorf("authz: decision is %T, not an object", v))
	}
	allow, ok := m["allow"].(bool)
	if !ok {
		return deny(d, errors.New("authz: decision.allow is not a boolean"))
	}
	reasons, ok := stringList(m["reasons"])
	if !ok {
		return deny(d, errors.New("authz: decision.reasons is not a list of strings"))
	}
	d.Reasons = reasons
	d.Agreement, _ = m["agreement"].(string)
	d.LegalBasis, _ = m["legal_basis"].(string)
	if ob, ok := m["obligations"].(map[string]any); ok {
		if f, present := ob["fields"]; present {
			fields, ok := stringList(f)
			if !ok {
				return deny(d, errors.New("authz: decision.obligations.fields is not a list of strings"))
			}
			d.Fields, d.FilterFields = fields, true
		}
	} else if m["obligations"] != nil {
		return deny(d, errors.New("authz: decision.obligations is not an object"))
	}
	d.Allow = allow
	return d
}

func stringList(v any) ([]string, bool) {
	l, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, ok := x.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// Explain evaluates the decision for a JSON input document and writes the
// evaluation trace (OPA's pretty trace with locations) to w. It returns the
// decision as the policy produced it.
func (p *Policy) Explain(ctx context.Context, input any, w io.Writer) (any, error) {
	buf := topdown.NewBufferTracer()
	opts := []func(*rego.Rego){rego.Query(DecisionQuery), rego.Input(input), rego.QueryTracer(buf),
		rego.Store(p.store), rego.StoreReadAST(true), rego.StrictBuiltinErrors(true)}
	for _, m := range p.modules {
		opts = append(opts, rego.ParsedModule(m))
	}
	rs, err := rego.New(opts...).Eval(ctx)
	if w != nil {
		topdown.PrettyTraceWithLocation(w, *buf)
	}
	if err != nil {
		return nil, err
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil, errors.New("authz: the policy produced no decision")
	}
	return rs[0].Expressions[0].Value, nil
}

// Engine holds the current policy; it is safe for concurrent use.
type Engine struct {
	cur atomic.Pointer[Policy]
}

// NewEngine returns an engine with no policy; every decision denies until
// [Engine.Swap].
func NewEngine() *Engine { return &Engine{} }

// Swap makes p the current policy and returns the previous one (nil at
// first). Decisions already running finish on the policy they started on.
func (e *Engine) Swap(p *Policy) *Policy { return e.cur.Swap(p) }

// Current returns the current policy, or nil.
func (e *Engine) Current() *Policy { return e.cur.Load() }

// Decide evaluates in with the current policy; without one it denies with
// Error ErrNoPolicy.
func (e *Engine) Decide(ctx context.Context, in *Input) *Decision {
	p := e.cur.Load()
	if p == nil {
		return deny(&Decision{}, ErrNoPolicy)
	}
	return p.Decide(ctx, in)
}
