package fetch

import (
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// Outcomes of an attempt, the event's outcome field. Every transport uses
// the same words.
const (
	OutcomeServed          = "served"
	OutcomeNotFound        = "not_found"
	OutcomeNoCertificate   = "no_certificate"
	OutcomeBindingMismatch = "binding_mismatch"
	OutcomeDeniedName      = "denied_name"
	OutcomeWriteRefused    = "write_refused"
	OutcomeAborted         = "aborted"
	OutcomeTimeout         = "timeout"
	OutcomeBusy            = "busy"
	OutcomeError           = "error" // a server fault, such as a failed seal
)

// Outcomes lists every outcome, for metrics that show each from the start.
var Outcomes = []string{
	OutcomeServed, OutcomeNotFound, OutcomeNoCertificate, OutcomeBindingMismatch, OutcomeDeniedName,
	OutcomeWriteRefused, OutcomeAborted, OutcomeTimeout, OutcomeBusy, OutcomeError,
}

// Attempt is one request and what became of it: the fields of its event.
// The transport fills what only it knows (bytes sent, block size, HTTP
// status, range); Prepare fills the rest as the request goes.
type Attempt struct {
	Start       time.Time
	File        string // the name asked for, as sent
	Remote      netip.AddrPort
	Outcome     string
	Reason      string
	Serial      string
	MAC         net.HardwareAddr
	Bytes       int64
	Fingerprint string
	Cached      bool
	Encrypted   bool
	Blksize     int    // TFTP: the negotiated block size
	Status      int    // HTTP: the status code sent
	Range       string // HTTP: the Range asked for
	// Image marks an attempt for an OS image rather than a config (HTTP):
	// its bytes are not counted as config bytes, and its event says so.
	Image bool

	// logged is shared by copies of the attempt (a transport may hand a
	// copy to whoever could end it first): one event, whoever logs it.
	logged *atomic.Bool
}

// NewAttempt opens an attempt for name from remote.
func NewAttempt(name string, remote netip.AddrPort) *Attempt {
	return &Attempt{Start: time.Now(), File: name, Remote: remote, logged: new(atomic.Bool)}
}

// Refuse sets the outcome and reason of a refused or failed attempt.
func (a *Attempt) Refuse(outcome, reason string) {
	a.Outcome, a.Reason = outcome, reason
}

// clientText makes text that came from a client fit for a log field: no
// NULs, and '?' for every other control character (C0, DEL, and C1, which
// a UTF-8 terminal may take as escape sequences: U+009B is a CSI) and
// every bidirectional control (U+202E shows the rest of a line reversed);
// journald shows a line holding C1 or DEL as "[blob data]".
func clientText(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == 0:
			return -1
		case unicode.IsControl(r), unicode.Is(unicode.Bidi_Control, r):
			return '?'
		}
		return r
	}, s)
}

// maxLogText is the most an event keeps of a field a client chose (a TFTP
// file name can fill a datagram).
const maxLogText = 256

// logText is clientText of at most maxLogText bytes (whole characters),
// marked with "…" when cut.
func logText(s string) string {
	if len(s) > maxLogText {
		cut := maxLogText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return clientText(s)
}

// ClientText is clientText for transports: the text of an error a client
// sent, fit for the reason field.
func ClientText(s string) string { return clientText(s) }
