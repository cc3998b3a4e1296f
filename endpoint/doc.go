// Package endpoint is the one shape of Tongxing's own JSON APIs: an
// adapter that reads a request's JSON body within a size limit (and
// validates it), runs the call, and answers with the call's [Reply] or,
// for an error, an RFC 9457 problem whose status the error states itself
// ([problem.HTTPError]; any other error is a 500 whose cause is logged,
// not shown).
//
// Handlers are small methods of a service that take the request and the
// decoded body and return a reply or an error; domain packages return
// their own typed errors, so no handler maps errors to statuses:
//
//	mux.Handle("POST /ca/v1/enrolment-codes", guard(endpoint.JSON(o, 16<<10, h.createCode)))
//	func (h *API) createCode(r *http.Request, req CodeRequestJSON) (*endpoint.Reply, error)
//
// Protocols with error forms of their own do not use it: the OAuth
// endpoints (RFC 6749 error bodies), OCSP (RFC 6960 responses), the TSA
// (RFC 3161 responses) and ACME (RFC 8555 problems).
package endpoint
