package devices

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// TestCoreSeesEventsTheOutputDrops: with the output at warn, Info events
// still reach the state, through fields of every type events use and
// fields added with With; the output still writes only warnings.
func TestCoreSeesEventsTheOutputDrops(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	out := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&buf), zap.WarnLevel)
	s := newState(t)
	log := zap.New(zapcore.NewTee(out, s.Core()))

	// A certificate fetched from the vendor directory is in the story,
	// not a fetch attempt of the device's config.
	log.Named("keystore").Info("certificate fetched", zap.String("event", "keystore.fetch"), zap.String("outcome", "fetched"),
		zap.String("serial", "SN1"), zap.String("fingerprint", "ab"), zap.Int("attempt", 2))
	log.Info("certificate added", zap.String("event", "certificate.state"), zap.String("state", "added"),
		zap.String("serial", "SN1"), zap.String("fingerprint", "ab"), zap.String("key_type", "P-256"))
	log.Named("watch").Info("config ready", zap.String("event", "config.state"), zap.String("state", "ready"),
		zap.String("serial", "SN1"), zap.Int64("bytes", 12))
	dhcp := log.Named("dhcp").With(zap.String("event", "dhcp.nak"))
	dhcp.Info("dhcpv4: NAK", zap.String("serial", "SN1"), zap.Stringer("ip", netip.MustParseAddr("192.0.2.9")),
		zap.Stringer("mac", (*nilStringer)(nil)))
	log.Warn("tftp fetch binding_mismatch", zap.String("event", "tftp.fetch"), zap.String("outcome", "binding_mismatch"),
		zap.String("serial", "SN1"), zap.Int64("bytes", 0), zap.Bool("cached", false), zap.String("remote", "192.0.2.9:1000"))
	log.Named("httpd").Info("http fetch served", zap.String("event", "http.fetch"), zap.String("outcome", "served"),
		zap.String("serial", "SN1"), zap.String("file", "/images/os.tgz"), zap.Bool("image", true), zap.Int64("bytes", 9))
	log.Info("no event here", zap.String("serial", "SN1"))
	log.Debug("debug event", zap.String("event", "tftp.fetch"), zap.String("serial", "SN1"), zap.String("outcome", "served"))

	d, ok := s.Device("SN1")
	if !ok {
		t.Fatal("no device")
	}
	var story []string
	for _, e := range d.Story {
		story = append(story, e.Event+"/"+e.Result+"/"+e.Address)
	}
	want := "keystore.fetch/fetched/ certificate.state/added/ config.state/ready/ dhcp.nak//192.0.2.9 tftp.fetch/binding_mismatch/192.0.2.9:1000 http.fetch/served/"
	if strings.Join(story, " ") != want {
		t.Fatalf("story %v\nwant %s", story, want)
	}
	if d.Config.Bytes != 12 || d.DHCP.IP != "192.0.2.9" || d.Phase != PhaseBooting || d.Images == nil || d.Images.Served != 1 || d.Fetch.Attempts != 1 {
		t.Fatalf("device %+v", d)
	}
	if n := strings.Count(buf.String(), "\n"); n != 1 || !strings.Contains(buf.String(), "binding_mismatch") {
		t.Fatalf("output wrote %d lines:\n%s", n, buf.String())
	}
}

type nilStringer struct{ s string }

func (n *nilStringer) String() string { return n.s } // panics on nil
