package main

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/devices"
)

// printTable prints the devices, one line each, and a summary line.
func printTable(out io.Writer, l devices.List, now time.Time) {
	inert(&l)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERIAL\tPHASE\tLAST EVENT\tADDRESS\tMAC\tVENDOR\tATTEMPTS\tLAST OUTCOME\tWHY")
	for _, d := range l.Devices {
		ip, mac, vendor, attempts, outcome := "-", "-", "-", "-", "-"
		if h := d.DHCP; h != nil {
			ip, mac, vendor = dash(h.IP), dash(h.MAC), dash(strings.TrimSpace(h.Vendor+" "+h.Model))
		}
		if f := d.Fetch; f != nil {
			attempts, outcome = fmt.Sprint(f.Attempts), f.LastOutcome+" ("+f.LastTransport+")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Serial, d.Phase, since(d.LastEvent, now), ip, mac, vendor, attempts, outcome, d.Why)
	}
	_ = tw.Flush()
	fmt.Fprintln(out, summaryLine(l))
}

// summaryLine counts every device by phase, and what the filter kept.
func summaryLine(l devices.List) string {
	var parts []string
	for _, p := range devices.Phases {
		if n := l.Summary.Phases[p]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, p))
		}
	}
	s := fmt.Sprintf("%d devices", l.Summary.Devices)
	if len(parts) > 0 {
		s += ": " + strings.Join(parts, ", ")
	}
	if l.Matched != l.Summary.Devices {
		s += fmt.Sprintf(" (%d shown)", len(l.Devices))
	}
	if u := l.Summary.UnknownClients; u.Events > 0 {
		s += fmt.Sprintf("; %d DHCP requests logged from %d clients with no serial", u.Events, len(u.Recent))
	}
	if f := l.Summary.UnresolvedFetches; f.Total > 0 {
		s += fmt.Sprintf("; %d fetches named no serial", f.Total)
	}
	if l.Summary.Forgotten > 0 {
		s += fmt.Sprintf("; %d devices with no file forgotten", l.Summary.Forgotten)
	}
	return s
}

// printDevice prints one device's record and story.
func printDevice(out io.Writer, d devices.Device, now time.Time) {
	inert(&d)
	fmt.Fprintf(out, "%s  %s\n  %s\n\n", d.Serial, d.Phase, d.Why)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	c := d.Certificate
	fmt.Fprintf(tw, "certificate\t%s\n", join(c.State, c.KeyType, c.Fingerprint, c.Reason, "since "+since(c.Since, now)))
	k := d.Config
	bytes := ""
	if k.Bytes > 0 {
		bytes = fmt.Sprintf("%d bytes", k.Bytes)
	}
	sum := ""
	if k.SHA256 != "" {
		sum = "sha256 " + k.SHA256
	}
	fmt.Fprintf(tw, "config\t%s\n", join(k.State, bytes, sum, k.Reason, "since "+since(k.Since, now)))
	if h := d.DHCP; h != nil {
		fmt.Fprintf(tw, "dhcp\t%s\n", join(h.Last+" "+h.IP, "mac "+h.MAC, strings.TrimSpace(h.Vendor+" "+h.Model), opt("relay ", h.Relay),
			opt("circuit ", h.CircuitID), fmt.Sprintf("%d offers, %d acks", h.Offers, h.Acks), since(h.At, now)))
	} else {
		fmt.Fprintf(tw, "dhcp\tnot seen\n")
	}
	if f := d.Fetch; f != nil {
		served := "never served"
		if !f.ServedAt.IsZero() {
			served = fmt.Sprintf("served %d bytes over %s %s", f.ServedBytes, f.ServedTransport, since(f.ServedAt, now))
		}
		fmt.Fprintf(tw, "fetch\t%s\n", join(fmt.Sprintf("%d attempt(s), %d refused in a row", f.Attempts, f.RefusedInARow),
			"last "+f.LastOutcome+" over "+f.LastTransport+" "+opt("from ", f.LastRemote)+" "+since(f.LastAttempt, now), opt("reason: ", f.LastReason),
			"first "+since(f.FirstAttempt, now), served))
	} else {
		fmt.Fprintf(tw, "fetch\tno attempt\n")
	}
	if im := d.Images; im != nil {
		fmt.Fprintf(tw, "images\t%s\n", join(fmt.Sprintf("%d fetch(es), %d served", im.Fetches, im.Served),
			"last "+im.LastOutcome+" "+im.LastFile+" "+since(im.LastAttempt, now)))
	}
	if z := d.SZTP; z != nil {
		fmt.Fprintf(tw, "sztp\t%s %s\n", z.Last, since(z.At, now))
	}
	_ = tw.Flush()
	fmt.Fprintf(out, "\nstory (%d recent events, oldest first)\n", len(d.Story))
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tRESULT\tADDRESS\tMAC\tFILE\tBYTES\tREASON")
	for _, e := range d.Story {
		n := "-"
		if e.Bytes > 0 {
			n = fmt.Sprint(e.Bytes)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.At.Local().Format("2006-01-02 15:04:05.000"), e.Event, dash(e.Result),
			dash(e.Address), dash(e.MAC), dash(e.File), n, e.Reason)
	}
	_ = tw.Flush()
}

// since is a time as how long ago, or "-" for none.
func since(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	if d < time.Second {
		return "just now"
	}
	if d > time.Minute {
		d = d.Round(time.Second)
	} else {
		d = d.Round(100 * time.Millisecond)
	}
	return d.String() + " ago"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func opt(label, v string) string {
	if v == "" {
		return ""
	}
	return label + v
}

// join joins the non-empty parts with commas.
func join(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ", ")
}

// inert makes every string in *v fit for a terminal (see inertText): much
// of what status shows was sent by devices (a DHCP model, a relay's
// circuit ID, a TFTP client's error text).
func inert(v any) { inertValue(reflect.ValueOf(v)) }

func inertValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			inertValue(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				inertValue(v.Field(i))
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			inertValue(v.Index(i))
		}
	case reflect.String:
		if v.CanSet() {
			v.SetString(inertText(v.String()))
		}
	}
}

// inertText replaces what a terminal would obey rather than print (C0 and
// C1 controls: escape sequences, newlines and tabs that forge rows or
// shift columns; bidirectional overrides) and invalid UTF-8 with '?'.
func inertText(s string) string {
	if !strings.ContainsFunc(s, unsafeRune) && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s { // an invalid byte is utf8.RuneError
		if unsafeRune(r) || r == utf8.RuneError {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
}
