package timestamp

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
)

// PKIStatus is the status of a TimeStampResp (RFC 3161 §2.4.2).
type PKIStatus int

// PKIStatus values.
const (
	StatusGranted                PKIStatus = 0
	StatusGrantedWithMods        PKIStatus = 1
	StatusRejection              PKIStatus = 2
	StatusWaiting                PKIStatus = 3
	StatusRevocationWarning      PKIStatus = 4
	StatusRevocationNotification PKIStatus = 5
)

// String returns the ASN.1 name of s.
func (s PKIStatus) String() string {
	switch s {
	case StatusGranted:
		return "granted"
	case StatusGrantedWithMods:
		return "grantedWithMods"
	case StatusRejection:
		return "rejection"
	case StatusWaiting:
		return "waiting"
	case StatusRevocationWarning:
		return "revocationWarning"
	case StatusRevocationNotification:
		return "revocationNotification"
	}
	return fmt.Sprintf("PKIStatus(%d)", int(s))
}

// FailureInfo is a set of PKIFailureInfo bits (RFC 3161 §2.4.2; RFC 4210).
// Each constant is one bit; FailureInfo implements error so that
// errors.Is(err, timestamp.BadAlg) works on errors from this package.
type FailureInfo uint32

// The PKIFailureInfo bits a TSA uses.
const (
	BadAlg              FailureInfo = 1 << 0  // unrecognized or unsupported algorithm
	BadRequest          FailureInfo = 1 << 2  // transaction not permitted or supported
	BadDataFormat       FailureInfo = 1 << 5  // the data submitted has the wrong format
	TimeNotAvailable    FailureInfo = 1 << 14 // the TSA's time source is not available
	UnacceptedPolicy    FailureInfo = 1 << 15 // the requested policy is not supported
	UnacceptedExtension FailureInfo = 1 << 16 // the requested extension is not supported
	AddInfoNotAvailable FailureInfo = 1 << 17 // the additional information requested is not available
	SystemFailure       FailureInfo = 1 << 25 // the request cannot be handled due to system failure
)

// failureName returns the ASN.1 name of PKIFailureInfo bit b.
func failureName(b int) string {
	names := [...]string{"badAlg", "badMessageCheck", "badRequest", "badTime", "badCertId",
		"badDataFormat", "wrongAuthority", "incorrectData", "missingTimeStamp",
		"badPOP", "certRevoked", "certConfirmed", "wrongIntegrity",
		"badRecipientNonce", "timeNotAvailable", "unacceptedPolicy",
		"unacceptedExtension", "addInfoNotAvailable", "badSenderNonce",
		"badCertTemplate", "signerNotTrusted", "transactionIdInUse",
		"unsupportedVersion", "notAuthorized", "systemUnavail",
		"systemFailure", "duplicateCertReq"}
	if b >= 0 && b < len(names) {
		return names[b]
	}
	return fmt.Sprintf("bit%d", b)
}

// String lists the names of the bits in f, separated by "|".
func (f FailureInfo) String() string {
	if f == 0 {
		return "none"
	}
	var names []string
	for b := range 32 {
		if f&(1<<b) == 0 {
			continue
		}
		names = append(names, failureName(b))
	}
	return strings.Join(names, "|")
}

// Error makes a FailureInfo usable as a sentinel error.
func (f FailureInfo) Error() string { return f.String() }

// highestBit returns the number of the highest bit set, or -1.
func (f FailureInfo) highestBit() int { return 31 - bits.LeadingZeros32(uint32(f)) }

// RejectionError is a TSA refusal: the status, failure bits and the text a
// TimeStampResp carries. errors.Is(err, BadAlg) and friends match its bits.
type RejectionError struct {
	Status  PKIStatus
	Failure FailureInfo
	Text    string
	// Err is the cause inside the TSA; it is not sent to clients.
	Err error
}

// Error describes the rejection.
func (e *RejectionError) Error() string {
	s := fmt.Sprintf("timestamp: %s (%s)", e.Status, e.Failure)
	if e.Text != "" {
		s += ": " + e.Text
	}
	return s
}

// Is matches the FailureInfo sentinels whose bits e carries.
func (e *RejectionError) Is(target error) bool {
	f, ok := target.(FailureInfo)
	return ok && f != 0 && e.Failure&f == f
}

// Unwrap returns the internal cause.
func (e *RejectionError) Unwrap() error { return e.Err }

// reject builds a RejectionError; text is shown to clients.
func reject(f FailureInfo, text string, cause error) *RejectionError {
	return &RejectionError{Status: StatusRejection, Failure: f, Text: text, Err: cause}
}

// asRejection turns any error into a RejectionError: FailureInfo bits found
// with errors.Is are kept, everything else is a systemFailure whose detail
// is hidden.
func asRejection(err error) *RejectionError {
	var re *RejectionError
	if errors.As(err, &re) {
		return re
	}
	for _, f := range []FailureInfo{BadAlg, BadRequest, BadDataFormat, TimeNotAvailable, UnacceptedPolicy, UnacceptedExtension, AddInfoNotAvailable} {
		if errors.Is(err, f) {
			return reject(f, strings.TrimPrefix(err.Error(), "timestamp: "), err)
		}
	}
	return reject(SystemFailure, "internal error", err)
}
