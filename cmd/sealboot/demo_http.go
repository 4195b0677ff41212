package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/test/device"
)

// The demo's HTTP device: a Juniper whose boot profile says http and
// offers it an image.
const (
	demoHTTPSerial = "JN11F4C4DAFA"
	demoHTTPConfig = "set system host-name mx1.pop1\nset system radius-server 192.0.2.10 secret \"s3cr3t\"\n"
	demoImage      = "junos-demo.img"
	demoImageSize  = 8 << 20
)

// demoHTTPYAML is the part of the demo's configuration the environment
// cannot carry: the HTTP server and the boot profile.
const demoHTTPYAML = `http:
  listen: ["192.0.2.1:80"]
profiles:
  - name: mx-http
    serials: [` + demoHTTPSerial + `]
    transport: http
    image: ` + demoImage + `
`

// prepareHTTP writes the HTTP device's key, certificate and config, the
// image its profile offers, and the configuration file serve reads; it
// returns that file and the device's key.
func (d *demo) prepareHTTP() (cfgFile, key string, err error) {
	state := filepath.Join(d.dir, "state")
	if err := os.MkdirAll(filepath.Join(state, "images"), 0o750); err != nil {
		return "", "", err
	}
	id, err := keystore.GenerateDevice(demoHTTPSerial, keystore.P256)
	if err != nil {
		return "", "", err
	}
	if err := writeIdentity(id, demoHTTPSerial, filepath.Join(d.dir, "device"), filepath.Join(state, "keys")); err != nil {
		return "", "", err
	}
	img := make([]byte, demoImageSize)
	_, _ = rand.Read(img)
	cfgFile = filepath.Join(d.dir, "sealboot.yaml")
	for _, f := range []struct {
		path string
		data []byte
	}{
		{filepath.Join(state, "images", demoImage), img},
		{filepath.Join(state, "configs", demoHTTPSerial+".cfg"), []byte(demoHTTPConfig)},
		{cfgFile, []byte(demoHTTPYAML)},
	} {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			return "", "", err
		}
	}
	return cfgFile, filepath.Join(d.dir, "device", demoHTTPSerial+".key"), nil
}

// bootHTTP boots the HTTP device and reports what it did.
func (d *demo) bootHTTP(ctx context.Context, self, key string) error {
	d.say("7. an HTTP device boots: its boot profile (mx-http) has DHCP tell it, in Juniper's option 43, transfer mode")
	d.say("   http (03), its config %s.enc (01) and the image images/%s (00); its image download is", demoHTTPSerial, demoImage)
	d.say("   cut after 2 MiB on purpose (--cut-after) and resumed with a Range request")
	installed := filepath.Join(d.dir, "device", "http-installed.cfg")
	// Another MAC than the first device's: another box on the same port.
	if err := d.dev.NS.Run("ip", "link", "set", "dev", d.dev.Name, "address", "02:00:5e:00:53:17"); err != nil {
		return err
	}
	out, err := d.dev.NS.Command(ctx, self, "device", "boot", "--serial", demoHTTPSerial, "--key", key, "--vendor", "juniper",
		"--iface", d.dev.Name, "--require-encrypted", "--cut-after", "2MiB", "--retry", "1s", "--max-attempts", "10",
		"--install", installed).Output()
	d.say("8. the HTTP device says: %s", strings.TrimSpace(string(out)))
	if err != nil {
		return fmt.Errorf("the HTTP device did not install its config: %w", err)
	}
	var res device.Result
	if err := json.Unmarshal(out, &res); err != nil {
		return fmt.Errorf("the HTTP device's result: %w", err)
	}
	got, err := os.ReadFile(installed)
	if err != nil || string(got) != demoHTTPConfig {
		return fmt.Errorf("the HTTP device installed another config: %v", err)
	}
	d.say("9. it fetched %d bytes of image over HTTP (%d resumed request), SHA-256 %s… as the ETag states,", res.ImageBytes, res.ImageResumes, res.ImageSHA256[:16])
	d.say("   then its config from %s, sealed to it like the TFTP one", res.File)
	return nil
}
