package fetch

import "testing"

// TestClientText: text a client sent (a TFTP error message, an HTTP
// request line, an SZTP user name) keeps no control character: zap's JSON
// escapes C0 but writes DEL and C1 (a CSI) as they are, and journald then
// shows the whole line as "[blob data]" (systemd counts DEL and C1 as
// unprintable), hiding the event, while a terminal obeys a CSI.
func TestClientText(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, in, want string }{
		{"plain", "Disk full", "Disk full"},
		{"NUL dropped", "a\x00b", "ab"},
		{"C0", "a\x1b[2Jb\n", "a?[2Jb?"},
		{"DEL", "a\x7fb", "a?b"},
		{"C1 CSI", "a\u009b31mb\u0085", "a?31mb?"},
		{"other scripts kept", "Größe ≠ 0", "Größe ≠ 0"},
	} {
		if got := ClientText(tt.in); got != tt.want {
			t.Errorf("%s: ClientText(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}
