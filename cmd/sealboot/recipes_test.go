package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// readmeRecipe returns the jq program of the README's recipe marked name.
func readmeRecipe(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- recipe: "+name)
	if !ok {
		t.Fatalf("README.md has no recipe %q", name)
	}
	_, prog, ok := strings.Cut(rest, "jq -rn '")
	if !ok {
		t.Fatalf("recipe %q: no jq -rn '…'", name)
	}
	prog, _, ok = strings.Cut(prog, "'\n```")
	if !ok {
		t.Fatalf("recipe %q: the program does not end the code block", name)
	}
	return prog
}

// journalExport is what `journalctl -o json` prints for log lines: one
// JSON object per line, the line in MESSAGE.
func journalExport(t *testing.T, messages ...any) []byte {
	t.Helper()
	var b bytes.Buffer
	for i, m := range messages {
		line, err := json.Marshal(map[string]any{"__REALTIME_TIMESTAMP": "1796190000000000", "_SYSTEMD_UNIT": "sealboot.service", "MESSAGE": m, "PRIORITY": "6", "__CURSOR": i})
		if err != nil {
			t.Fatal(err)
		}
		b.Write(append(line, '\n'))
	}
	return b.Bytes()
}

// TestStillWaitingRecipe: the README's jq recipe gives the same answer on
// a journal with lines that are not sealboot's JSON (ExecStartPre's OK,
// systemd's lines, a plain-text crash, a binary MESSAGE, JSON that is not
// an object) as on the clean journal, and the answer is right (an image
// served does not make a device served).
func TestStillWaitingRecipe(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("jq not installed (Debian package jq)")
	}
	prog := readmeRecipe(t, "still-waiting")
	events := []string{
		`{"level":"info","ts":"2026-12-01T09:00:00Z","msg":"sealboot ready"}`,
		`{"level":"warn","ts":"2026-12-01T09:00:01Z","msg":"tftp fetch not_found","event":"tftp.fetch","outcome":"not_found","serial":"WAIT1","remote":"192.0.2.10:1000","reason":"no config"}`,
		`{"level":"info","ts":"2026-12-01T09:00:02Z","msg":"tftp fetch served","event":"tftp.fetch","outcome":"served","serial":"DONE1","remote":"192.0.2.11:1000","reason":""}`,
		`{"level":"warn","ts":"2026-12-01T09:00:03Z","msg":"tftp fetch timeout","event":"tftp.fetch","outcome":"timeout","serial":"DONE1","remote":"192.0.2.11:1001","reason":"late"}`,
		`{"level":"warn","ts":"2026-12-01T09:00:04Z","msg":"http fetch no_certificate","event":"http.fetch","outcome":"no_certificate","serial":"WAIT2","remote":"192.0.2.12:80","reason":"no cert"}`,
		`{"level":"warn","ts":"2026-12-01T09:00:05Z","msg":"tftp fetch binding_mismatch","event":"tftp.fetch","outcome":"binding_mismatch","serial":"WAIT1","remote":"192.0.2.13:1000","reason":"address is leased to serial \"X\""}`,
		`{"level":"warn","ts":"2026-12-01T09:00:06Z","msg":"tftp fetch not_found","event":"tftp.fetch","outcome":"not_found","serial":"","remote":"192.0.2.14:1000","reason":"name matches no pattern"}`,
		`{"level":"info","ts":"2026-12-01T09:00:07Z","msg":"http fetch served","event":"http.fetch","outcome":"served","serial":"WAIT2","remote":"192.0.2.12:81","image":true,"reason":""}`,
	}
	var clean, dirty []any
	for _, e := range events {
		clean = append(clean, e)
	}
	dirty = append(dirty, "OK", "Started sealboot.service - sealboot secure device install server.")
	for i, e := range events {
		dirty = append(dirty, e)
		if i == 2 {
			dirty = append(dirty, "panic: runtime error: invalid memory address", []int{0xff, 0xfe, 0x41}, "42", `"a JSON string"`, "")
		}
	}
	run := func(input []byte) string {
		cmd := exec.Command("jq", "-rn", prog)
		cmd.Stdin = bytes.NewReader(input)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("jq: %v\n%s", err, out)
		}
		return string(out)
	}
	want := "WAIT1\ttftp.fetch\tbinding_mismatch\t192.0.2.13:1000\t2026-12-01T09:00:05Z\taddress is leased to serial \"X\"\n" +
		"WAIT2\thttp.fetch\tno_certificate\t192.0.2.12:80\t2026-12-01T09:00:04Z\tno cert\n"
	if got := run(journalExport(t, clean...)); got != want {
		t.Fatalf("clean journal:\n%s\nwant\n%s", got, want)
	}
	if got := run(journalExport(t, dirty...)); got != want {
		t.Fatalf("journal with non-JSON lines:\n%s\nwant\n%s", got, want)
	}
}
