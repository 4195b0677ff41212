package e2e

import (
	"bufio"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/sealboot/sealboot/test/netns"
)

func demoNamespaces(t *testing.T) int {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(out), "sbdem")
}

// TestDemo runs `sealboot demo` to the end: the TFTP device, the HTTP
// device (image cut, resumed, checked; config over HTTP) and the SZTP
// device install their configs, and the lab is removed.
func TestDemo(t *testing.T) {
	if err := netns.Check(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	before := demoNamespaces(t)
	out, err := exec.Command(sealbootBin, "demo").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"outcome=not_found", "outcome=served", `"outcome":"installed"`, "matches the operator's plaintext",
		// The HTTP device: its image cut and resumed, then its config.
		"http.fetch       outcome=aborted serial=JN11F4C4DAFA file=/images/junos-demo.img",
		"http.fetch       outcome=served serial=JN11F4C4DAFA file=/images/junos-demo.img", "status=206 range=bytes=2097152- bytes=6291456",
		"http.fetch       outcome=served serial=JN11F4C4DAFA file=/JN11F4C4DAFA.enc",
		`"file":"http://192.0.2.1/JN11F4C4DAFA.enc","transport":"http"`, `"image_bytes":8388608`, `"image_resumes":1`,
		"sztp.request     outcome=served", "mode=signed+encrypted", "progress_type=bootstrap-complete", `"mode":"signed+encrypted"`, "lab removed"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if after := demoNamespaces(t); after != before {
		t.Fatalf("demo left %d namespaces", after-before)
	}
}

// TestDemoCleansUpOnInterrupt: Ctrl-C in the middle removes the lab, and
// the demo exits 130 as an interrupted command does, with no error line.
func TestDemoCleansUpOnInterrupt(t *testing.T) {
	if err := netns.Check(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	before := demoNamespaces(t)
	cmd := exec.Command(sealbootBin, "demo")
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "2. sealboot serve is up") {
			break
		}
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	var rest strings.Builder
	for sc.Scan() {
		rest.WriteString(sc.Text() + "\n")
	}
	_ = cmd.Wait()
	if !strings.Contains(rest.String(), "lab removed") {
		t.Errorf("no cleanup message after SIGINT:\n%s", rest.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 || strings.Contains(stderr.String(), "sealboot demo:") {
		t.Errorf("exit %d after SIGINT, want 130 and no error line; stderr:\n%s", code, stderr.String())
	}
	if after := demoNamespaces(t); after != before {
		t.Fatalf("interrupted demo left %d namespaces", after-before)
	}
}
