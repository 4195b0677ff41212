package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealboot/sealboot/keystore"
)

// deviceHTTPYAML: HTTP on 8080 (the port URLs carry) and 80; a Juniper
// profile with an image, an Arista one without.
const deviceHTTPYAML = `http:
  listen: ["192.0.2.1:8080", "192.0.2.1:80"]
profiles:
  - name: mx-image
    vendor: juniper
    transport: http
    image: junos-mx.img
  - name: arista-http
    vendor: arista
    transport: http
`

// TestDeviceHTTPImage: the emulated device boots over HTTP as DHCP tells
// it. A Juniper follows option 43 (03 http, 05 8080, 01 its config, 00
// its image): it fetches the image first, the connection cut after 3 MiB
// (--cut-after), resumes it with a Range request, checks its SHA-256
// against the ETag (the one sealboot logged), then fetches and decrypts
// its config. An Arista follows option 67's URL and fetches the image
// --image names. --transport tftp takes the same device to TFTP, and
// --transport http takes a device of no profile to HTTP.
func TestDeviceHTTPImage(t *testing.T) {
	l := newLab(t)
	images := filepath.Join(l.dir, "state", "images")
	if err := os.MkdirAll(images, 0o750); err != nil {
		t.Fatal(err)
	}
	const size = 12<<20 + 12345
	img := make([]byte, size)
	_, _ = rand.Read(img)
	if err := os.WriteFile(filepath.Join(images, "junos-mx.img"), img, 0o644); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(img)
	sum := hex.EncodeToString(want[:])
	s := l.start(l.config(deviceHTTPYAML))
	if ev := s.wait("image ready", func(m map[string]any) bool { return m["file"] == "junos-mx.img" }); ev["sha256"] != sum {
		t.Fatalf("logged %v, the file's SHA-256 is %s", ev["sha256"], sum)
	}
	config := "set system host-name mx-http\nset system root-authentication encrypted-password \"$6$s3cr3t\"\n"
	key := l.provision(t, s, "JN11AA0HTTP1", keystore.P256, config, false)

	const cut = 3 << 20
	res := l.boot(t, "--serial", "JN11AA0HTTP1", "--key", key, "--vendor", "juniper", "--require-encrypted",
		"--cut-after", "3MiB", "--expect-sha256", sha256hex(config), "--max-attempts", "2", "--retry", "1s")
	t.Logf("juniper: %+v", res)
	if !res.Installed() || res.Transport != "http" || res.File != "http://192.0.2.1:8080/JN11AA0HTTP1.enc" || !res.Encrypted {
		t.Fatalf("juniper device: %+v", res)
	}
	if res.Image != "http://192.0.2.1:8080/images/junos-mx.img" || res.ImageBytes != size || res.ImageSHA256 != sum || res.ImageResumes != 1 {
		t.Fatalf("juniper image: %+v, want %d bytes, sha256 %s, one resume", res, size, sum)
	}
	// sealboot's side: the cut request, the resumed one (206, the rest,
	// the same ETag), then the config, all from the device's address.
	var cutEv, resumed map[string]any
	for _, ev := range s.events("http.fetch") {
		if ev["file"] != "/images/junos-mx.img" || !strings.HasPrefix(ev["remote"].(string), res.Address+":") {
			continue
		}
		switch {
		case ev["range"] == "" && ev["status"] == float64(200):
			cutEv = ev
		case ev["range"] == fmt.Sprintf("bytes=%d-", cut):
			resumed = ev
		}
	}
	if cutEv == nil || cutEv["outcome"] != "aborted" || cutEv["bytes"].(float64) >= size || cutEv["serial"] != "JN11AA0HTTP1" {
		t.Fatalf("the cut download's event: %v\n%s", cutEv, s.logText())
	}
	if resumed == nil || resumed["outcome"] != "served" || resumed["status"] != float64(206) || resumed["bytes"] != float64(size-cut) {
		t.Fatalf("the resumed download's event: %v\n%s", resumed, s.logText())
	}
	t.Logf("cut: %v bytes sent (%v); resumed: %v bytes, status %v", cutEv["bytes"], cutEv["reason"], resumed["bytes"], resumed["status"])
	s.wait("http fetch served", func(m map[string]any) bool {
		return m["file"] == "/JN11AA0HTTP1.enc" && m["encrypted"] == true && m["serial"] == "JN11AA0HTTP1"
	})

	// An Arista: option 67's URL, and the image its ZTP script would fetch.
	run(t, l.cli.NS, false, "ip", "link", "set", "dev", l.cli.Name, "address", "02:00:00:00:17:02")
	key = l.provision(t, s, "SSJ17020001", keystore.RSA2048, "hostname arista-http\n", false)
	res = l.boot(t, "--serial", "SSJ17020001", "--key", key, "--vendor", "arista", "--image", "http://192.0.2.1:8080/images/junos-mx.img", "--max-attempts", "1")
	if !res.Installed() || res.File != "http://192.0.2.1:8080/SSJ17020001.enc" || res.ImageSHA256 != sum || res.ImageResumes != 0 {
		t.Fatalf("arista device: %+v", res)
	}

	// The same Arista told to use TFTP: the URL's path, over TFTP.
	res = l.boot(t, "--serial", "SSJ17020001", "--key", key, "--vendor", "arista", "--transport", "tftp", "--max-attempts", "1")
	if !res.Installed() || res.Transport != "tftp" || res.File != "SSJ17020001.enc" {
		t.Fatalf("arista over tftp: %+v", res)
	}
	s.wait("tftp fetch served", func(m map[string]any) bool { return m["serial"] == "SSJ17020001" })

	// A device of no profile, told to use HTTP: its bare name on port 80.
	run(t, l.cli.NS, false, "ip", "link", "set", "dev", l.cli.Name, "address", "02:00:00:00:17:03")
	key = l.provision(t, s, "FDO1703ZZ01", keystore.P256, "hostname nxos\n", false)
	res = l.boot(t, "--serial", "FDO1703ZZ01", "--key", key, "--vendor", "cisco-nxos", "--transport", "http", "--max-attempts", "1")
	if !res.Installed() || res.File != "http://192.0.2.1/FDO1703ZZ01.enc" || res.Image != "" {
		t.Fatalf("nx-os over http: %+v", res)
	}

	// An image that is not there: the attempt fails before the config.
	res = l.boot(t, "--serial", "FDO1703ZZ01", "--key", key, "--vendor", "cisco-nxos", "--image", "http://192.0.2.1/images/none.img", "--max-attempts", "1")
	if res.Outcome != "image_mismatch" || !strings.Contains(res.Error, "404") {
		t.Fatalf("a missing image: %+v", res)
	}
}

func sha256hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
