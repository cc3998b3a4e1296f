package authz

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
)

// Sharing classes of the resource catalogue (政务信息资源目录).
const (
	// SharingUnconditional is 无条件共享: any verified department service.
	SharingUnconditional = "unconditional"
	// SharingConditional is 有条件共享: only under a sharing agreement.
	SharingConditional = "conditional"
	// SharingNone is 不予共享: never through the gateway.
	SharingNone = "none"
)

// Limits of the catalogue and of paths matched against it.
const (
	// MaxPathLen bounds a request path given to [Catalogue.Match].
	MaxPathLen = 4096
	// MaxSegments bounds the segments of a path or pattern.
	MaxSegments = 64
	// MaxParamLen bounds one matched path parameter.
	MaxParamLen = 1024
)

// ErrCatalogue is wrapped by errors in the catalogue of a bundle.
var ErrCatalogue = errors.New("authz: invalid resource catalogue")

// CitizenField names the request parameter that identifies the citizen a
// resource is about.
type CitizenField struct {
	// In is "path" (a {name} segment of the pattern) or "query".
	In string `json:"in"`
	// Name is the parameter name.
	Name string `json:"name"`
}

// Resource is one entry of the resource catalogue, read from
// data.tongxing.catalogue.RESOURCE-ID of a bundle.
type Resource struct {
	ID     string `json:"-"`
	Name   string `json:"name"`
	NameEN string `json:"name_en,omitempty"`
	// Owner is the department that provides the resource.
	Owner string `json:"owner"`
	// Method and Path are the HTTP method and the path pattern below the
	// owner's upstream, e.g. "/v1/residents/{id_number}". A {name}
	// segment matches one non-empty segment.
	Method string `json:"method"`
	Path   string `json:"path"`
	// Sharing is SharingUnconditional, SharingConditional or SharingNone.
	Sharing string `json:"sharing"`
	// Fields are the response fields the resource returns (optional).
	Fields []string `json:"fields,omitempty"`
	// PersonalFields are the fields that are personal data; a resource
	// with any needs a purpose.
	PersonalFields []string `json:"personal_fields"`
	// CitizenField identifies the citizen the resource is about, if any.
	CitizenField *CitizenField `json:"citizen_field,omitempty"`
	// LegalBasis cites the law or regulation the sharing rests on.
	LegalBasis string `json:"legal_basis"`
	// MaxBody bounds the request body in bytes (0: the gateway default).
	MaxBody int64 `json:"max_body,omitempty"`
}

// Match is a resource matched by a request, with its path parameters.
type Match struct {
	Resource *Resource
	Params   map[string]string
}

// Catalogue is the resource catalogue of one bundle with its route table.
// It is immutable and safe for concurrent use.
type Catalogue struct {
	resources map[string]*Resource
	routes    map[string]*node // by owner department
}

type node struct {
	static    map[string]*node
	param     *node
	paramName string
	methods   map[string]*Resource
}

var (
	paramRE   = regexp.MustCompile(`^\{[a-z][a-z0-9_]{0,62}\}$`)
	resIDRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,127}$`)
	methodRE  = regexp.MustCompile(`^[A-Z]{1,16}$`)
	segmentRE = regexp.MustCompile(`^[A-Za-z0-9._~-]+$`)
)

// ParseCatalogue reads the catalogue from a bundle's data document: the
// object at data.tongxing.catalogue. Unknown members, bad patterns and two
// resources on one route are errors wrapping ErrCatalogue.
func ParseCatalogue(data map[string]any) (*Catalogue, error) {
	c := &Catalogue{resources: map[string]*Resource{}, routes: map[string]*node{}}
	b, ok, err := member(data, "catalogue")
	if !ok || err != nil {
		return c, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: data.tongxing.catalogue is not an object", ErrCatalogue)
	}
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		// Go decodes null as a missing member; the policy's rules do not
		// (count(null) is an error), so null is refused here.
		var members map[string]json.RawMessage
		if err := json.Unmarshal(m[id], &members); err == nil {
			for k, v := range members {
				if string(v) == "null" {
					return nil, fmt.Errorf("%w: resource %q: member %q is null", ErrCatalogue, id, k)
				}
			}
		}
		r := &Resource{}
		if err := decodeExact(m[id], r); err != nil {
			return nil, fmt.Errorf("%w: resource %q: %v", ErrCatalogue, id, err)
		}
		r.ID = id
		if err := c.add(r); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *Catalogue) add(r *Resource) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: resource %q: %s", ErrCatalogue, r.ID, fmt.Sprintf(format, args...))
	}
	if !resIDRE.MatchString(r.ID) {
		return bad("id must be 1 to 128 of [a-z0-9._-], starting with a letter or digit")
	}
	if r.Owner == "" || !resIDRE.MatchString(r.Owner) {
		return bad("owner %q is not a department id", r.Owner)
	}
	if !methodRE.MatchString(r.Method) {
		return bad("method %q is not an HTTP method", r.Method)
	}
	switch r.Sharing {
	case SharingUnconditional, SharingConditional, SharingNone:
	default:
		return bad("sharing %q is not %s, %s or %s", r.Sharing, SharingUnconditional, SharingConditional, SharingNone)
	}
	if r.MaxBody < 0 {
		return bad("max_body is negative")
	}
	segs, err := splitPattern(r.Path)
	if err != nil {
		return bad("path %q: %v", r.Path, err)
	}
	if f := r.CitizenField; f != nil {
		switch f.In {
		case "path":
			if !slicesContains(segs, "{"+f.Name+"}") {
				return bad("citizen_field names path parameter %q, which the path lacks", f.Name)
			}
		case "query":
			if f.Name == "" {
				return bad("citizen_field needs a name")
			}
		default:
			return bad("citizen_field.in %q is not path or query", f.In)
		}
	}
	n := c.routes[r.Owner]
	if n == nil {
		n = &node{}
		c.routes[r.Owner] = n
	}
	seen := map[string]bool{}
	for _, s := range segs {
		if paramRE.MatchString(s) {
			name := s[1 : len(s)-1]
			if seen[name] {
				return bad("path %q repeats parameter %s", r.Path, name)
			}
			seen[name] = true
			if n.param == nil {
				n.param = &node{paramName: name}
			} else if n.param.paramName != name {
				return bad("path %q names parameter %s where another resource of %s names %s", r.Path, name, r.Owner, n.param.paramName)
			}
			n = n.param
			continue
		}
		if n.static == nil {
			n.static = map[string]*node{}
		}
		next := n.static[s]
		if next == nil {
			next = &node{}
			n.static[s] = next
		}
		n = next
	}
	if n.methods == nil {
		n.methods = map[string]*Resource{}
	}
	if other := n.methods[r.Method]; other != nil {
		return bad("%s %s is also resource %q", r.Method, r.Path, other.ID)
	}
	n.methods[r.Method] = r
	c.resources[r.ID] = r
	return nil
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// splitPattern checks a path pattern: "/" then segments of unreserved
// characters or {param}.
func splitPattern(p string) ([]string, error) {
	if !strings.HasPrefix(p, "/") || len(p) > MaxPathLen {
		return nil, errors.New("must start with / and be at most 4096 bytes")
	}
	if p == "/" {
		return nil, nil
	}
	segs := strings.Split(p[1:], "/")
	if len(segs) > MaxSegments {
		return nil, fmt.Errorf("more than %d segments", MaxSegments)
	}
	for _, s := range segs {
		if paramRE.MatchString(s) {
			continue
		}
		if !segmentRE.MatchString(s) || s == "." || s == ".." {
			return nil, fmt.Errorf("segment %q is neither a name of unreserved characters nor {param}", s)
		}
	}
	return segs, nil
}

// Resource returns the resource with id, or nil.
func (c *Catalogue) Resource(id string) *Resource {
	if c == nil {
		return nil
	}
	return c.resources[id]
}

// Len returns the number of resources.
func (c *Catalogue) Len() int {
	if c == nil {
		return 0
	}
	return len(c.resources)
}

// Match finds the resource of department owner that serves method and
// escapedPath (the request path below /gw/OWNER, still percent-encoded).
// Literal segments take precedence over parameters. A path that is not
// clean — empty, "." or ".." segments (also percent-encoded), an encoded
// "/" or "\" in a segment, invalid escapes, or longer than the limits — never
// matches, so that the gateway and the upstream cannot disagree on what it
// names. Parameter values are returned unescaped.
func (c *Catalogue) Match(owner, method, escapedPath string) (*Match, bool) {
	if c == nil || len(escapedPath) > MaxPathLen || !strings.HasPrefix(escapedPath, "/") {
		return nil, false
	}
	n := c.routes[owner]
	if n == nil {
		return nil, false
	}
	var params map[string]string
	if escapedPath != "/" {
		rest := escapedPath[1:]
		for i := 0; ; i++ {
			if i == MaxSegments {
				return nil, false
			}
			seg, tail, more := strings.Cut(rest, "/")
			v, ok := cleanSegment(seg)
			if !ok {
				return nil, false
			}
			if next := n.static[v]; next != nil && v == seg {
				n = next
			} else if n.param != nil && !n.shadows(v) {
				if params == nil {
					params = map[string]string{}
				}
				params[n.param.paramName] = v
				n = n.param
			} else {
				return nil, false
			}
			if !more {
				break
			}
			rest = tail
		}
	}
	r := n.methods[method]
	if r == nil {
		return nil, false
	}
	return &Match{Resource: r, Params: params}, true
}

// shadows reports whether v, taken as the node's parameter, would name one
// of its fixed segments written otherwise (escaped, or in other case):
// upstreams that unescape, or ignore case, would serve that fixed
// resource, which the policy never saw.
func (n *node) shadows(v string) bool {
	for lit := range n.static {
		if strings.EqualFold(v, lit) {
			return true
		}
	}
	return false
}

// cleanSegment unescapes one path segment and refuses what could be read
// differently by another parser: separators, dot segments, control
// characters and ';' (a path parameter to some servers, so that "..;" is
// ".." there).
func cleanSegment(seg string) (string, bool) {
	if seg == "" || len(seg) > 3*MaxParamLen {
		return "", false
	}
	v, err := url.PathUnescape(seg)
	if err != nil || v == "" || v == "." || v == ".." || len(v) > MaxParamLen || strings.ContainsAny(v, "/\\;\x00") {
		return "", false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] == 0x7f {
			return "", false
		}
	}
	return v, true
}

// checkAgreements validates the agreements of a bundle's data
// (data.tongxing.agreements.CONSUMER.RESOURCE[]): each needs an id, lists of
// purposes and fields, and RFC 3339 valid_from and expires with valid_from
// before expires. A bundle with a malformed agreement is refused at load
// rather than making decisions fail later.
func checkAgreements(data map[string]any) error {
	b, ok, err := member(data, "agreements")
	if !ok || err != nil {
		return err
	}
	type agreement struct {
		ID         string   `json:"id"`
		Purposes   []string `json:"purposes"`
		Fields     []string `json:"fields"`
		ValidFrom  string   `json:"valid_from"`
		Expires    string   `json:"expires"`
		ApprovedBy string   `json:"approved_by"`
	}
	var all map[string]map[string][]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return fmt.Errorf("%w: data.tongxing.agreements must map consumer to resource to a list: %v", ErrCatalogue, err)
	}
	for consumer, byRes := range all {
		for res, list := range byRes {
			for i, rawA := range list {
				var a agreement
				bad := func(format string, args ...any) error {
					return fmt.Errorf("%w: agreement %s/%s[%d] %q: %s", ErrCatalogue, consumer, res, i, a.ID, fmt.Sprintf(format, args...))
				}
				if err := decodeExact(rawA, &a); err != nil {
					return bad("%v", err)
				}
				if a.ID == "" || a.Purposes == nil || a.Fields == nil || a.ApprovedBy == "" {
					return bad("id, purposes, fields and approved_by are required")
				}
				from, err1 := time.Parse(time.RFC3339, a.ValidFrom)
				until, err2 := time.Parse(time.RFC3339, a.Expires)
				if err1 != nil || err2 != nil {
					return bad("valid_from and expires must be RFC 3339 times")
				}
				if !from.Before(until) {
					return bad("valid_from is not before expires")
				}
			}
		}
	}
	return nil
}

// checkNegativeList refuses a negative list of the wrong shape: the policy
// reads data.tongxing.negative_list as {"resources": {ID: {"reason",
// "basis"}}, "fields": {ID: [FIELD...]}}, and a field list written as a
// string, say, would make its rules and its indexes disagree about which
// fields to remove.
func checkNegativeList(data map[string]any) error {
	b, ok, err := member(data, "negative_list")
	if !ok || err != nil {
		return err
	}
	var nl struct {
		Resources map[string]*struct {
			Reason string `json:"reason"`
			Basis  string `json:"basis"`
		} `json:"resources"`
		Fields map[string][]string `json:"fields"`
	}
	if err := decodeExact(b, &nl); err != nil {
		return fmt.Errorf("%w: data.tongxing.negative_list must be {\"resources\": {ID: {\"reason\", \"basis\"}}, \"fields\": {ID: [FIELD...]}}: %v", ErrCatalogue, err)
	}
	for id, r := range nl.Resources {
		if r == nil || r.Reason == "" {
			return fmt.Errorf("%w: negative_list: resource %q needs a reason", ErrCatalogue, id)
		}
	}
	for id, fields := range nl.Fields {
		if fields == nil {
			return fmt.Errorf("%w: negative_list: fields of %q must be a list", ErrCatalogue, id)
		}
	}
	return nil
}

// decodeExact decodes the JSON object b into v, refusing a member whose
// name is not exactly that of a field. encoding/json matches names without
// regard to case, Unicode folding included ("Citizen_field", "expireſ"),
// while the policy reads them exactly: a member it never sees must not pass
// for one it reads, nor shadow the one it reads in what Go shows.
func decodeExact(b []byte, v any) error {
	return jsonv2.Unmarshal(b, v, jsonv2.RejectUnknownMembers(true))
}

// member returns data.tongxing.KEY of a bundle's data as JSON, and
// whether the bundle has it.
func member(data map[string]any, key string) ([]byte, bool, error) {
	root, _ := data["tongxing"].(map[string]any)
	raw, ok := root[key]
	if !ok {
		return nil, false, nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, true, fmt.Errorf("%w: %s: %v", ErrCatalogue, key, err)
	}
	return b, true, nil
}
