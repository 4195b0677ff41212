package configdir

import (
	"crypto/x509"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/sealboot/sealboot/keystore/cms"
)

// kindExt is one kind of config file and the extension that names it.
type kindExt struct{ kind, ext string }

var kindOrder = []string{KindPlaintext, KindPresealed, KindAppliance}

// kindsOf fills in the default extensions and returns the kinds, longest
// extension first. The extensions must differ.
func kindsOf(cfg *Config) ([]kindExt, error) {
	if cfg.PresealedExtension == "" {
		cfg.PresealedExtension = defaultPresealed
	}
	if cfg.ApplianceExtension == "" {
		cfg.ApplianceExtension = defaultAppliance
	}
	ks := []kindExt{{KindPlaintext, cfg.Extension}, {KindPresealed, cfg.PresealedExtension}, {KindAppliance, cfg.ApplianceExtension}}
	seen := map[string]string{}
	for _, k := range ks {
		if other, dup := seen[k.ext]; dup {
			return nil, fmt.Errorf("configs directory: %s and %s configs have the same extension %q", other, k.kind, k.ext)
		}
		seen[k.ext] = k.kind
	}
	sort.SliceStable(ks, func(i, j int) bool { return len(ks[i].ext) > len(ks[j].ext) })
	return ks, nil
}

// keyFor is the key of serial's file of this kind in Dir.bySerial: the
// serial for plaintext (as it always was), the serial, a NUL and the kind
// otherwise (no serial holds a NUL).
func keyFor(serial, kind string) string {
	if kind == KindPlaintext {
		return serial
	}
	return serial + "\x00" + kind
}

// entriesLocked returns serial's config files, of every kind. Callers hold
// d.mu.
func (d *Dir) entriesLocked(serial string) []*entry {
	var out []*entry
	for _, k := range kindOrder {
		if e, ok := d.bySerial[keyFor(serial, k)]; ok {
			out = append(out, e)
		}
	}
	return out
}

func ambiguity(serial string, es []*entry) string {
	names := make([]string, len(es))
	for i, e := range es {
		names[i] = e.name
	}
	sort.Strings(names)
	return fmt.Sprintf("ambiguous: %s are all configs for %s; keep one (a plaintext config is never served beside a sealed one)",
		strings.Join(names, ", "), serial)
}

// readRecipients reads who a sealed file is sealed to, or sets its problem.
// A file that changed since it was stated is a problem until its change
// is seen (the watch reports it).
func (d *Dir) readRecipients(e *entry) {
	data, err := d.readSettled(e)
	if err != nil {
		e.problem = "changed while being read; checked again once it settles"
		return
	}
	rs, err := cms.Recipients(data)
	if err != nil {
		e.problem = "not a CMS EnvelopedData or AuthEnvelopedData (PEM or DER): " + err.Error()
		if e.kind == KindPresealed {
			e.problem += "; a plaintext config is named <serial>" + d.cfg.Extension
		}
		return
	}
	e.recipients = rs
}

// state is what e's file is now, and why when invalid: its own problem,
// another file for the same serial, a sealed file whose recipients are not
// the pinned certificate (presealed) or the appliance's (sealed to the
// appliance), then ready or waiting for the device's certificate.
func (d *Dir) state(e *entry) (state, reason string) {
	if e.problem != "" {
		return StateInvalid, e.problem
	}
	d.mu.RLock()
	siblings, broken := d.entriesLocked(e.serial), e.broken
	d.mu.RUnlock()
	if broken != "" {
		return StateInvalid, broken
	}
	if others := slices.DeleteFunc(siblings, func(s *entry) bool { return s.key == e.key }); len(others) > 0 {
		return StateInvalid, ambiguity(e.serial, append(others, e))
	}
	switch e.kind {
	case KindPresealed:
		if d.certs == nil {
			return StateWaitingForCert, ""
		}
		cert, fp, ok := d.certs.Certificate(e.serial)
		if !ok {
			return StateWaitingForCert, ""
		}
		if !sealedTo(e.recipients, cert) {
			return StateInvalid, wrongKey(e.recipients, "pinned certificate", cert, fp)
		}
		return StateReady, ""
	case KindAppliance:
		if d.cfg.Appliance == nil {
			return StateInvalid, "sealed to the appliance, but no appliance_key is configured"
		}
		if cert := d.cfg.Appliance.Certificate(); !sealedTo(e.recipients, cert) {
			return StateInvalid, wrongKey(e.recipients, "appliance certificate", cert, "")
		}
	}
	if d.hasCert(e.serial) {
		return StateReady, ""
	}
	return StateWaitingForCert, ""
}

func sealedTo(rs []cms.Recipient, cert *x509.Certificate) bool {
	for _, r := range rs {
		if r.Matches(cert) {
			return true
		}
	}
	return false
}

// wrongKey says who a file is sealed to and what it should be sealed to,
// so that an operator sees an RMA's old key at a glance.
func wrongKey(rs []cms.Recipient, what string, cert *x509.Certificate, fp string) string {
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = r.String()
	}
	s := fmt.Sprintf("sealed to another key: recipients [%s]; %s %s", strings.Join(names, "; "), what, cms.Describe(cert))
	if fp != "" {
		s += " fingerprint " + fp
	}
	return s
}
