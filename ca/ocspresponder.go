package ca

import (
	"context"
	"crypto"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca/ocsp"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/store"
)

// DefaultOCSPValidity is the time from an OCSP response's thisUpdate to its
// nextUpdate. Responses are re-signed after half of it.
const DefaultOCSPValidity = 24 * time.Hour

// ResponderKey is a key Tongxing holds with a certificate from one of its
// issuing CAs, such as a delegated OCSP responder.
type ResponderKey struct {
	Issuer string // issuing CA name
	Cert   *smx509.Certificate
	Signer crypto.Signer
}

// serial is the certificate's serial as the inventory writes it.
func (k *ResponderKey) serial() string { return SerialHex(k.Cert.SerialNumber) }

// EnsureResponder returns the delegated OCSP responder of an issuing CA
// (profile ocsp, key "ocsp-ISSUER"); see [Authority.EnsureServiceKey].
func (a *Authority) EnsureResponder(ctx context.Context, km kms.KeyManager, dir, issuerName string) (*ResponderKey, error) {
	issuer, err := a.CA(issuerName)
	if err != nil {
		return nil, err
	}
	return a.EnsureServiceKey(ctx, km, dir, ServiceKeySpec{
		Name:    "ocsp-" + issuerName,
		Issuer:  issuerName,
		Profile: "ocsp",
		Subject: Subject{Name: issuer.Cert.Subject.CommonName + " OCSP Responder"},
	})
}

// ServiceKeySpec names a key and certificate Tongxing issues to itself, such
// as an OCSP responder or a timestamp authority.
type ServiceKeySpec struct {
	Name    string  // key name in the key manager and file name dir/NAME.crt
	Issuer  string  // issuing CA; the key has its suite
	Profile string  // certificate profile
	Subject Subject // vetted subject for the profile
}

// EnsureServiceKey returns the key and certificate of spec, creating the key
// if missing and issuing a new certificate when there is none, it does not
// match the key or issuer, or less than a third of its validity is left.
func (a *Authority) EnsureServiceKey(ctx context.Context, km kms.KeyManager, dir string, spec ServiceKeySpec) (*ResponderKey, error) {
	issuer, err := a.CA(spec.Issuer)
	if err != nil {
		return nil, err
	}
	key, err := km.Signer(ctx, spec.Name)
	if errors.Is(err, kms.ErrKeyNotFound) {
		key, err = km.CreateKey(ctx, spec.Name, issuer.Suite)
	}
	if err != nil {
		return nil, fmt.Errorf("ca: key %s: %w", spec.Name, err)
	}
	path := filepath.Join(dir, spec.Name+".crt")
	if b, err := os.ReadFile(path); err == nil {
		if cert, err := parseCertPEM(b); err == nil && publicKeysEqual(cert.PublicKey, key.Public()) &&
			cert.CheckSignatureFrom(issuer.Cert) == nil {
			life := cert.NotAfter.Sub(cert.NotBefore)
			if a.now().Before(cert.NotAfter.Add(-life / 3)) {
				return &ResponderKey{Issuer: spec.Issuer, Cert: cert, Signer: key}, nil
			}
		}
	}
	iss, err := a.Issue(ctx, IssueRequest{
		PublicKey:   key.Public(),
		Profile:     spec.Profile,
		Subject:     spec.Subject,
		RequestedBy: "system:" + spec.Name,
	})
	if err != nil {
		return nil, fmt.Errorf("ca: issue %s certificate: %w", spec.Name, err)
	}
	if err := writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: iss.Certificate.Raw}), 0o644); err != nil {
		return nil, err
	}
	a.log.InfoContext(ctx, "issued service certificate", "name", spec.Name, "serial", iss.Record.Serial, "not_after", iss.Certificate.NotAfter)
	return &ResponderKey{Issuer: spec.Issuer, Cert: iss.Certificate, Signer: key}, nil
}

// OCSPResponder answers RFC 6960 requests for the certificates of the
// authority's issuing CAs, signed by each CA's delegated responder.
//
// Responses for one certificate without a nonce are pre-signed and kept in
// the ca_ocsp_responses table, shared by replicas, and in memory: the hot
// path answers from memory, and otherwise reads the certificate's status
// and its stored response in one query and signs nothing. Memory forgets a
// certificate when its status changes here or, on PostgreSQL, when another
// replica's change is notified ([StatusChannel], [OCSPStaleness]). A response is re-signed when the certificate's status changes
// (at once, through [Authority.SetStatus]), when it is past half its
// validity, or when the responder certificate changed. Requests with a nonce
// or for several certificates are signed per request.
type OCSPResponder struct {
	a          *Authority
	db         *store.DB
	validity   time.Duration
	log        *slog.Logger
	mu         sync.RWMutex
	responders map[string]*ResponderKey // by issuer name
	mem        *ocspCache
}

// NewOCSPResponder returns a responder over the authority's inventory in db,
// signing with responders (one per issuing CA). It registers itself with a
// so that status changes re-sign the stored response.
func NewOCSPResponder(a *Authority, db *store.DB, responders []*ResponderKey) (*OCSPResponder, error) {
	r := &OCSPResponder{a: a, db: db, validity: DefaultOCSPValidity, log: a.log, responders: map[string]*ResponderKey{},
		mem: newOCSPCache(db.Dialect() == store.Postgres)}
	for _, k := range responders {
		if err := r.SetResponder(k); err != nil {
			return nil, err
		}
	}
	a.addStatusHook(func(ctx context.Context, rec *Record) {
		r.mem.drop(rec.Serial)
		if _, err := r.presign(ctx, rec.Serial); err != nil {
			r.log.ErrorContext(ctx, "re-sign OCSP response after status change", "serial", rec.Serial, "err", err)
		}
	})
	return r, nil
}

// SetResponder installs or replaces the responder of an issuing CA.
func (r *OCSPResponder) SetResponder(k *ResponderKey) error {
	issuer, err := r.a.CA(k.Issuer)
	if err != nil {
		return err
	}
	if err := k.Cert.CheckSignatureFrom(issuer.Cert); err != nil {
		return fmt.Errorf("ca: OCSP responder certificate is not issued by %s: %w", k.Issuer, err)
	}
	r.mu.Lock()
	r.responders[k.Issuer] = k
	r.mu.Unlock()
	r.mem.drop("")
	return nil
}

// AnswersFromMemory reports whether the responder answers from memory
// now: always on SQLite, on PostgreSQL while its notifications are live.
func (r *OCSPResponder) AnswersFromMemory() bool { return r.mem.live() }

// Listen keeps the responder's memory in step with status changes made by
// other replicas sharing the database, until ctx ends (see [StatusChannel]
// and [OCSPStaleness]); without it, on PostgreSQL, every answer is read
// from the database. On SQLite it returns at once: one process, whose own
// changes drop what it remembers.
func (r *OCSPResponder) Listen(ctx context.Context) {
	r.mem.listen(ctx, r.db, func(err error) {
		r.log.WarnContext(ctx, "OCSP: status notifications lost; answering from the database until they resume", "err", err)
	})
}

// Respond answers a DER OCSP request. Malformed requests get a
// malformedRequest response, requests about other CAs unauthorized; the
// error is returned only for logging and the DER is always a valid
// OCSPResponse.
func (r *OCSPResponder) Respond(ctx context.Context, der []byte) ([]byte, error) {
	req, err := ocsp.ParseRequest(der)
	if err != nil {
		resp, _ := ocsp.ErrorResponse(ocsp.MalformedRequest)
		return resp, err
	}
	if req.Nonce != nil && len(req.Nonce.Value) > maxOCSPNonce {
		resp, _ := ocsp.ErrorResponse(ocsp.MalformedRequest)
		return resp, fmt.Errorf("ocsp: nonce of %d bytes, at most %d allowed", len(req.Nonce.Value), maxOCSPNonce)
	}
	issuer, rk := r.issuerOf(&req.CertIDs[0])
	if rk == nil {
		resp, _ := ocsp.ErrorResponse(ocsp.Unauthorized)
		return resp, errors.New("ocsp: request for a certificate of another CA")
	}
	// The stored and remembered responses echo a CertID with NULL hash
	// parameters; a CertID encoded otherwise gets a response of its own, so
	// that every client finds its CertID in the answer as it sent it.
	one := len(req.CertIDs) == 1 && req.Nonce == nil && req.CertIDs[0].NullParams()
	var (
		key ocspKey
		gen uint64
	)
	if one {
		id := req.CertIDs[0]
		key = ocspKey{serial: SerialHex(id.SerialNumber), hash: id.HashAlgorithm}
		if resp := r.mem.get(key, rk.serial(), r.a.now()); resp != nil {
			return resp, nil
		}
		gen = r.mem.generation()
		if resp, half, err := r.cached(ctx, id, rk); err == nil && resp != nil {
			r.mem.put(gen, key, ocspEntry{der: resp, responder: rk.serial(), half: half})
			return resp, nil
		} else if err != nil {
			r.log.WarnContext(ctx, "OCSP cache read failed", "err", err)
		}
	}
	now := r.a.now().UTC().Truncate(time.Second)
	data := ocsp.ResponseData{ProducedAt: now, Nonce: req.Nonce}
	for i := range req.CertIDs {
		id := req.CertIDs[i]
		if other, _ := r.issuerOf(&id); other != issuer {
			resp, _ := ocsp.ErrorResponse(ocsp.MalformedRequest)
			return resp, errors.New("ocsp: one request asks about certificates of different CAs")
		}
		single, err := r.single(ctx, id, issuer, now)
		if err != nil {
			resp, _ := ocsp.ErrorResponse(ocsp.InternalError)
			return resp, err
		}
		data.Responses = append(data.Responses, single)
	}
	resp, err := ocsp.CreateResponse(rk.Cert, rk.Signer, data)
	if err != nil {
		resp, _ := ocsp.ErrorResponse(ocsp.InternalError)
		return resp, err
	}
	if one {
		single := data.Responses[0]
		r.store(ctx, key.serial, single, rk, resp)
		if single.Status != ocsp.Unknown {
			half := single.ThisUpdate.Add(single.NextUpdate.Sub(single.ThisUpdate) / 2)
			r.mem.put(gen, key, ocspEntry{der: resp, responder: rk.serial(), half: half})
		}
	}
	return resp, nil
}

// issuerOf finds the issuing CA a CertID names and its responder.
func (r *OCSPResponder) issuerOf(id *ocsp.CertID) (string, *ResponderKey) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for name, rk := range r.responders {
		if c, err := r.a.CA(name); err == nil && id.Matches(c.Cert) {
			return name, rk
		}
	}
	return "", nil
}

// single states one certificate's status from the inventory.
func (r *OCSPResponder) single(ctx context.Context, id ocsp.CertID, issuer string, now time.Time) (ocsp.SingleResponse, error) {
	s := ocsp.SingleResponse{CertID: id, ThisUpdate: now, NextUpdate: now.Add(r.validity), Reason: ocsp.NoReason}
	rec, err := r.a.inv.Certificate(ctx, SerialHex(id.SerialNumber))
	switch {
	case errors.Is(err, ErrNotFound):
		s.Status = ocsp.Unknown
		return s, nil
	case err != nil:
		return s, err
	case rec.Issuer != issuer:
		s.Status = ocsp.Unknown
		return s, nil
	}
	switch rec.Status {
	case StatusValid:
		s.Status = ocsp.Good
	case StatusRevoked, StatusHold:
		s.Status = ocsp.Revoked
		s.RevokedAt = rec.RevokedAt
		if rec.Reason != nil {
			s.Reason = int(*rec.Reason)
		}
	default:
		return s, fmt.Errorf("ca: certificate %s has status %q", rec.Serial, rec.Status)
	}
	return s, nil
}

// cached returns the stored response for id if it states the certificate's
// current status, is fresh and was signed by the current responder.
func (r *OCSPResponder) cached(ctx context.Context, id ocsp.CertID, rk *ResponderKey) ([]byte, time.Time, error) {
	var (
		status, respStatus, responder, idHash sql.NullString
		thisUpdate, nextUpdate                sql.NullInt64
		der                                   []byte
	)
	serial := SerialHex(id.SerialNumber)
	err := r.db.QueryRow(ctx, `SELECT c.status, o.status, o.responder, o.cert_id_hash, o.this_update, o.next_update, o.der
		FROM ca_certificates c LEFT JOIN ca_ocsp_responses o ON o.serial = c.serial WHERE c.serial = ?`, serial).
		Scan(&status, &respStatus, &responder, &idHash, &thisUpdate, &nextUpdate, &der)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("ca: read OCSP response of %s: %w", serial, err)
	}
	// A response echoes the request's CertID, so one made for a SHA-1
	// CertID does not answer a SHA-256 query.
	if !respStatus.Valid || respStatus.String != status.String || responder.String != rk.serial() ||
		idHash.String != id.HashAlgorithm.String() {
		return nil, time.Time{}, nil
	}
	half := time.Unix(thisUpdate.Int64, 0).Add(time.Duration(nextUpdate.Int64-thisUpdate.Int64) * time.Second / 2)
	if r.a.now().After(half) {
		return nil, time.Time{}, nil
	}
	return der, half, nil
}

func (r *OCSPResponder) store(ctx context.Context, serial string, s ocsp.SingleResponse, rk *ResponderKey, der []byte) {
	idHash := s.HashAlgorithm.String()
	if s.Status == ocsp.Unknown {
		return
	}
	status := string(StatusValid)
	if s.Status == ocsp.Revoked {
		if s.Reason == int(ReasonCertificateHold) {
			status = string(StatusHold)
		} else {
			status = string(StatusRevoked)
		}
	}
	_, err := r.db.Exec(ctx, `INSERT INTO ca_ocsp_responses (serial, status, responder, cert_id_hash, this_update, next_update, der) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (serial) DO UPDATE SET status = excluded.status, responder = excluded.responder, cert_id_hash = excluded.cert_id_hash,
		this_update = excluded.this_update, next_update = excluded.next_update, der = excluded.der`,
		serial, status, SerialHex(rk.Cert.SerialNumber), idHash, s.ThisUpdate.Unix(), s.NextUpdate.Unix(), der)
	if err != nil {
		r.log.WarnContext(ctx, "store OCSP response", "serial", serial, "err", err)
	}
}

// presign signs and stores the response for one certificate (SHA-1 CertID,
// the form most clients send) and returns it.
func (r *OCSPResponder) presign(ctx context.Context, serial string) ([]byte, error) {
	rec, err := r.a.inv.Certificate(ctx, serial)
	if err != nil {
		return nil, err
	}
	r.mu.RLock()
	rk := r.responders[rec.Issuer]
	r.mu.RUnlock()
	if rk == nil {
		return nil, fmt.Errorf("ca: no OCSP responder for %s", rec.Issuer)
	}
	issuer, err := r.a.CA(rec.Issuer)
	if err != nil {
		return nil, err
	}
	n, _ := new(big.Int).SetString(serial, 16)
	id, err := ocsp.NewCertID(ocsp.SHA1, issuer.Cert, n)
	if err != nil {
		return nil, err
	}
	now := r.a.now().UTC().Truncate(time.Second)
	single, err := r.single(ctx, id, rec.Issuer, now)
	if err != nil {
		return nil, err
	}
	der, err := ocsp.CreateResponse(rk.Cert, rk.Signer, ocsp.ResponseData{ProducedAt: now, Responses: []ocsp.SingleResponse{single}})
	if err != nil {
		return nil, err
	}
	r.store(ctx, serial, single, rk, der)
	return der, nil
}

// Refresh re-signs stored responses that are past half their validity, at
// most limit of them; the server calls it periodically.
func (r *OCSPResponder) Refresh(ctx context.Context, limit int) (int, error) {
	cutoff := r.a.now().Add(r.validity / 2).Unix()
	rows, err := r.db.Query(ctx, "SELECT serial FROM ca_ocsp_responses WHERE next_update < ? ORDER BY next_update LIMIT ?", cutoff, limit)
	if err != nil {
		return 0, fmt.Errorf("ca: list stale OCSP responses: %w", err)
	}
	var serials []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return 0, err
		}
		serials = append(serials, s)
	}
	rows.Close()
	n := 0
	for _, s := range serials {
		if _, err := r.presign(ctx, s); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// MaxOCSPGETPath bounds the path of a GET request.
const maxOCSPBody = ocsp.MaxRequestSize

// maxOCSPNonce is the longest nonce echoed: RFC 9654 §2.1 has a responder
// answer a longer one (or an empty one, which ocsp.ParseRequest refuses)
// with malformedRequest.
const maxOCSPNonce = 128

// Routes registers the responder on mux at /ocsp: POST requests and
// GETs without a path. GETs below /ocsp/ carry base64 in the path, which
// may hold "//" that a mux's path cleaning would redirect: [OCSPResponder.RawPaths]
// routes them to the responder before the mux sees them.
func (r *OCSPResponder) Routes(mux *http.ServeMux) { mux.Handle("/ocsp", r) }

// RawPaths serves requests below /ocsp/ (GET /ocsp/BASE64) itself, as
// received, and passes every other request to next.
func (r *OCSPResponder) RawPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasPrefix(req.URL.Path, "/ocsp/") {
			req.Pattern = "/ocsp/"
			r.ServeHTTP(w, req)
			return
		}
		next.ServeHTTP(w, req)
	})
}

// ServeHTTP answers POST /ocsp (application/ocsp-request) and GET
// /ocsp/BASE64 (RFC 6960 Appendix A). Malformed requests get an OCSP
// malformedRequest response with HTTP 200, as RFC 6960 asks, never a 5xx.
func (r *OCSPResponder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var (
		der []byte
		err error
	)
	switch req.Method {
	case http.MethodPost:
		der, err = io.ReadAll(io.LimitReader(req.Body, maxOCSPBody+1))
		if err == nil && len(der) > maxOCSPBody {
			err = ocsp.ErrTooLarge
		}
	case http.MethodGet:
		p := req.URL.EscapedPath()
		p = strings.TrimPrefix(strings.TrimPrefix(p, "/ocsp"), "/")
		der, err = ocsp.ParseGETPath(p)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "OCSP takes GET or POST", http.StatusMethodNotAllowed)
		return
	}
	var resp []byte
	if err != nil {
		resp, _ = ocsp.ErrorResponse(ocsp.MalformedRequest)
	} else {
		resp, err = r.Respond(req.Context(), der)
	}
	if err != nil {
		r.log.DebugContext(req.Context(), "OCSP request refused", "err", err)
	} else if req.Method == http.MethodGet {
		w.Header().Set("Cache-Control", fmt.Sprintf("max-age=%d, public, no-transform, must-revalidate", int(r.validity/2/time.Second)))
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	w.Write(resp)
}
