package tftpd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pin/tftp/v3"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/cms"
	"github.com/sealboot/sealboot/tftpd/fetch"
)

var sampleConfig = []byte("hostname pe1\nradius-server key s3cr3t\n" + strings.Repeat("interface ge-0/0/1 description x\n", 200))

// get fetches name with pin/tftp's client.
func get(t *testing.T, addr, name string, blksize int) ([]byte, error) {
	t.Helper()
	c, err := tftp.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(2 * time.Second)
	if blksize > 0 {
		c.SetBlockSize(blksize)
	}
	wt, err := c.Receive(name, "octet")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, err
	}
	if n, ok := wt.(tftp.IncomingTransfer).Size(); ok && n != int64(buf.Len()) {
		t.Errorf("tsize %d, received %d", n, buf.Len())
	}
	return buf.Bytes(), nil
}

func TestServeSealedOverIPv4AndIPv6(t *testing.T) {
	t.Parallel()
	rsa, ec := device(t, "SNRSA", keystore.RSA2048), device(t, "SNEC", keystore.P256)
	h := start(t, Config{}, fetch.Config{}, fakeCerts{"SNRSA": rsa, "SNEC": ec}, nil)
	h.configs.set("SNRSA", sampleConfig)
	h.configs.set("SNEC", sampleConfig)
	n := 0
	for _, fam := range []string{"udp4", "udp6"} {
		for _, id := range []*keystore.DeviceIdentity{rsa, ec} {
			serial := id.Cert.Subject.CommonName
			data, err := get(t, h.addr(fam), serial+".enc", 1468)
			if err != nil {
				t.Fatalf("%s %s: %v", fam, serial, err)
			}
			plain, err := cms.Open(id.Key, data)
			if err != nil || !bytes.Equal(plain, sampleConfig) {
				t.Fatalf("%s %s: open: %v", fam, serial, err)
			}
			n++
		}
	}
	ev := h.waitEvents(n)
	// An event is logged when the server sees the last ACK, which can be
	// after the client has started its next fetch: count per serial, not
	// by position.
	cached := map[string][]bool{}
	for i, e := range ev {
		// pin/tftp clamps blksize to the interface MTU and falls back to 512
		// when it cannot read the interface: the event reports what was used.
		if e["outcome"] != fetch.OutcomeServed || e["level"] != "info" || (e["blksize"] != int64(1468) && e["blksize"] != int64(512)) || e["fingerprint"] == "" {
			t.Errorf("event %d: %v", i, e)
		}
		serial := e["serial"].(string)
		cached[serial] = append(cached[serial], e["cached"].(bool))
	}
	for serial, c := range cached {
		if len(c) != 2 || c[0] == c[1] {
			t.Errorf("%s: cached %v; one fetch must seal, the other come from the cache", serial, c)
		}
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	id := device(t, "SN1", keystore.P256)
	other := device(t, "SN2", keystore.P256)
	mac, _ := net.ParseMAC("02:00:00:00:00:01")
	// 127.0.0.1 is leased to SN1; ::1 has no lease.
	bindings := fakeBindings{netip.MustParseAddr("127.0.0.1"): {serial: "SN1", mac: mac}}
	h := start(t, Config{}, fetch.Config{BindingCheck: true, FixedNames: []string{"network-confg"}}, fakeCerts{"SN1": id, "SN2": other}, bindings)
	h.configs.set("SN1", sampleConfig)
	h.configs.set("SN2", sampleConfig)
	h.configs.set("NOCERT", sampleConfig)
	tests := []struct {
		name, fam, file, outcome, serial string
	}{
		{"binding ok", "udp4", "SN1.enc", fetch.OutcomeServed, "SN1"},
		{"fixed name through binding", "udp4", "network-confg", fetch.OutcomeServed, "SN1"},
		{"other serial's file", "udp4", "SN2.enc", fetch.OutcomeBindingMismatch, "SN2"},
		{"no lease at all", "udp6", "SN1.enc", fetch.OutcomeBindingMismatch, "SN1"},
		{"fixed name without binding", "udp6", "network-confg", fetch.OutcomeNotFound, ""},
		{"traversal", "udp4", "../../etc/passwd", fetch.OutcomeDeniedName, ""},
		{"absolute", "udp4", "/etc/shadow", fetch.OutcomeDeniedName, ""},
		{"unknown name", "udp4", "pxelinux.0", fetch.OutcomeNotFound, ""},
	}
	for _, tt := range tests {
		data, err := get(t, h.addr(tt.fam), tt.file, 0)
		if (tt.outcome == fetch.OutcomeServed) != (err == nil) {
			t.Fatalf("%s: err %v", tt.name, err)
		}
		if err != nil && !strings.Contains(err.Error(), "file not found") {
			t.Errorf("%s: client saw %q, want the generic text", tt.name, err)
		}
		if err == nil {
			if plain, err := cms.Open(id.Key, data); err != nil || !bytes.Equal(plain, sampleConfig) {
				t.Errorf("%s: served bytes do not open with SN1's key: %v", tt.name, err)
			}
		}
	}
	ev := h.waitEvents(len(tests))
	for _, tt := range tests {
		var e map[string]any // events complete out of order: find by name and family
		for _, cand := range ev {
			if cand["file"] == tt.file && strings.HasPrefix(cand["remote"].(string), map[string]string{"udp4": "127.", "udp6": "[::1]"}[tt.fam]) {
				e = cand
			}
		}
		if e["outcome"] != tt.outcome || e["serial"] != tt.serial || e["file"] != tt.file {
			t.Errorf("%s: event %v", tt.name, e)
		}
		if tt.fam == "udp4" && tt.outcome != fetch.OutcomeDeniedName && tt.outcome != fetch.OutcomeNotFound && e["mac"] != mac.String() {
			t.Errorf("%s: mac %v", tt.name, e["mac"])
		}
		if want := map[bool]string{true: "info", false: "warn"}[tt.outcome == fetch.OutcomeServed]; e["level"] != want {
			t.Errorf("%s: level %v", tt.name, e["level"])
		}
	}
}

func TestPlaintextPolicy(t *testing.T) {
	t.Parallel()
	id := device(t, "SNC", keystore.P256)
	h := start(t, Config{}, fetch.Config{PlaintextSerials: []string{"LAB1"}}, fakeCerts{"SNC": id}, nil)
	for _, s := range []string{"LAB1", "LAB2", "SNC"} {
		h.configs.set(s, sampleConfig)
	}
	h.configs.fail("CHANGING", errors.New("config file is changing"))
	addr := h.addr("udp4")
	if data, err := get(t, addr, "LAB1.enc", 0); err != nil || !bytes.Equal(data, sampleConfig) {
		t.Fatalf("plaintext-allowed serial: %v", err)
	}
	if _, err := get(t, addr, "LAB2.enc", 0); err == nil {
		t.Fatal("config without certificate served in the clear")
	}
	if data, err := get(t, addr, "SNC.enc", 0); err != nil || !cms.IsEnvelope(data) {
		t.Fatalf("serial with certificate: %v", err)
	}
	if _, err := get(t, addr, "CHANGING.enc", 0); err == nil {
		t.Fatal("changing config served")
	}
	if _, err := get(t, addr, "NONE.enc", 0); err == nil {
		t.Fatal("missing config served")
	}
	ev := byFile(h.waitEvents(5))
	for file, w := range map[string]string{"LAB1.enc": fetch.OutcomeServed, "LAB2.enc": fetch.OutcomeNoCertificate, "SNC.enc": fetch.OutcomeServed, "CHANGING.enc": fetch.OutcomeNotFound, "NONE.enc": fetch.OutcomeNotFound} {
		if ev[file]["outcome"] != w {
			t.Errorf("%s: %v, want %s", file, ev[file], w)
		}
	}
	if ev["LAB1.enc"]["encrypted"] != false || ev["SNC.enc"]["encrypted"] != true {
		t.Errorf("encrypted fields: %v %v", ev["LAB1.enc"]["encrypted"], ev["SNC.enc"]["encrypted"])
	}
	if !strings.Contains(ev["CHANGING.enc"]["reason"].(string), "changing") {
		t.Errorf("changing config reason: %v", ev["CHANGING.enc"]["reason"])
	}
}

// rrq sends a read request from a raw socket and returns it, for tests that
// play a misbehaving client. The socket is unconnected: the server answers
// from a new port (RFC 1350 transfer identifiers).
func rrq(t *testing.T, addr, name string) *net.UDPConn {
	t.Helper()
	ua, _ := net.ResolveUDPAddr("udp", addr)
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: ua.IP})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	pkt := binary.BigEndian.AppendUint16(nil, 1)
	pkt = append(append(append(pkt, name...), 0), "octet\x00"...)
	if _, err := c.WriteTo(pkt, ua); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBusyStalledClientAndBoundedShutdown(t *testing.T) {
	t.Parallel()
	id := device(t, "SNB", keystore.P256)
	h := start(t, Config{MaxPerClient: 1, MaxTransfers: 2, Timeout: time.Minute, Retries: 3, ShutdownTimeout: 50 * time.Millisecond}, fetch.Config{}, fakeCerts{"SNB": id}, nil)
	h.configs.set("SNB", sampleConfig)
	// A client that asks and never acknowledges holds its slot.
	stalled := rrq(t, h.addr("udp4"), "SNB.enc")
	buf := make([]byte, 600)
	_ = stalled.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := stalled.Read(buf); err != nil { // the first data block
		t.Fatal(err)
	}
	if _, err := get(t, h.addr("udp4"), "SNB.enc", 0); err == nil || !strings.Contains(err.Error(), "busy") {
		t.Fatalf("second transfer for the same client: %v, want busy", err)
	}
	if _, err := get(t, h.addr("udp6"), "SNB.enc", 0); err != nil {
		t.Fatalf("another client: %v", err)
	}
	ev := h.waitEvents(2)
	if ev[0]["outcome"] != fetch.OutcomeBusy || ev[0]["serial"] != "SNB" || !strings.HasPrefix(ev[0]["reason"].(string), "per-client limit reached (") {
		t.Fatalf("first logged event %v, want busy", ev[0])
	}
	// Stopping does not wait for the stalled client's retransmissions, and
	// its transfer still gets its one event.
	h.stop()
	ev = h.waitEvents(3)
	if ev[2]["outcome"] != fetch.OutcomeAborted || ev[2]["file"] != "SNB.enc" || !strings.Contains(ev[2]["reason"].(string), "stopped") ||
		ev[2]["blksize"] != int64(512) || ev[2]["bytes"].(int64) < 512 {
		t.Fatalf("the transfer cut short by the stop: %v, want aborted", ev[2])
	}
}

// oneSlot starts a server with a single transfer slot, requests waiting up
// to queueWait, and a P-256 device with a config.
func oneSlot(t *testing.T, serial string, queueWait time.Duration) (*harness, *keystore.DeviceIdentity) {
	t.Helper()
	id := device(t, serial, keystore.P256)
	h := start(t, Config{MaxTransfers: 1, QueueWait: queueWait, Timeout: time.Minute, ShutdownTimeout: 50 * time.Millisecond}, fetch.Config{}, fakeCerts{serial: id}, nil)
	h.configs.set(serial, sampleConfig)
	return h, id
}

// holdSlot starts a transfer from a client that reads the first block and
// never acknowledges it, and returns that client and the server's transfer
// address.
func holdSlot(t *testing.T, addr, name string) (*net.UDPConn, *net.UDPAddr) {
	t.Helper()
	c := rrq(t, addr, name)
	buf := make([]byte, 600)
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	_, from, err := c.ReadFromUDP(buf)
	if err != nil {
		t.Fatal(err)
	}
	return c, from
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if t.Context().Err() != nil {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFullServerQueuesThenServes(t *testing.T) {
	t.Parallel()
	h, id := oneSlot(t, "SNQ", time.Hour)
	holder, tid := holdSlot(t, h.addr("udp4"), "SNQ.enc")

	type result struct {
		data []byte
		err  error
	}
	got := make(chan result, 1)
	go func() {
		data, err := get(t, h.addr("udp6"), "SNQ.enc", 0)
		got <- result{data, err}
	}()
	waitFor(t, "the second request to wait in line", func() bool {
		return h.metric("sealboot_tftp_transfers") == 1 && h.metric("sealboot_tftp_waiting_requests") == 1
	})
	select {
	case r := <-got:
		t.Fatalf("served while the only slot was taken: %v", r.err)
	default:
	}
	// The holder gives up (TFTP error 0): its slot goes to the one waiting.
	if _, err := holder.WriteToUDP([]byte{0, 5, 0, 0, 'b', 'y', 'e', 0}, tid); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.err != nil {
		t.Fatalf("queued request: %v", r.err)
	}
	waitFor(t, "the slot to be released", func() bool { return h.metric("sealboot_tftp_transfers") == 0 })
	if w := h.metric("sealboot_tftp_waiting_requests"); w != 0 {
		t.Fatalf("%v requests waiting after both were answered", w)
	}
	if plain, err := cms.Open(id.Key, r.data); err != nil || !bytes.Equal(plain, sampleConfig) {
		t.Fatalf("queued request: open: %v", err)
	}
	outcomes := map[any]int{}
	for _, e := range h.waitEvents(2) {
		outcomes[e["outcome"]]++
		if e["outcome"] == fetch.OutcomeAborted && (!strings.HasSuffix(e["reason"].(string), "error: bye") || strings.ContainsRune(e["reason"].(string), 0)) {
			t.Errorf("aborted reason %q: want the client's message, without its NUL", e["reason"])
		}
	}
	if outcomes[fetch.OutcomeServed] != 1 || outcomes[fetch.OutcomeAborted] != 1 {
		t.Fatalf("outcomes %v, want one served and one aborted", outcomes)
	}
}

// A client waiting in line past its retransmission timeout sends its
// request again from the same port: that copy takes no place in line, no
// transfer and no event of its own, and the client gets one transfer.
func TestRetransmittedRequestWhileWaiting(t *testing.T) {
	t.Parallel()
	h, id := oneSlot(t, "SNT", time.Hour)
	holder, tid := holdSlot(t, h.addr("udp4"), "SNT.enc")

	c := rrq(t, h.addr("udp6"), "SNT.enc")
	waitFor(t, "the request to wait in line", func() bool { return h.metric("sealboot_tftp_waiting_requests") == 1 })
	server, _ := net.ResolveUDPAddr("udp", h.addr("udp6"))
	pkt := append(append(binary.BigEndian.AppendUint16(nil, 1), "SNT.enc\x00"...), "octet\x00"...)
	for range 3 {
		if _, err := c.WriteTo(pkt, server); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the copies to be recognised", func() bool { return h.metric("sealboot_tftp_retransmitted_requests_total") == 3 })
	if w := h.metric("sealboot_tftp_waiting_requests"); w != 1 {
		t.Fatalf("%v requests in line, want 1: copies must not queue", w)
	}
	if _, err := holder.WriteToUDP([]byte{0, 5, 0, 0, 'b', 'y', 'e', 0}, tid); err != nil {
		t.Fatal(err)
	}

	// Receive the one transfer, acknowledging its blocks; after it, each
	// copy ends with an error packet from a port of its own.
	var got []byte
	var from *net.UDPAddr
	done := false
	buf := make([]byte, 600)
	for errors := 0; errors < 3; {
		n, src, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Fatal(err)
		}
		switch op := binary.BigEndian.Uint16(buf); {
		case op == 5:
			if !done || src.Port == from.Port {
				t.Fatalf("error %q from %v before the transfer from %v was done", buf[4:n], src, from)
			}
			errors++
		case op == 3 && (from == nil || src.Port == from.Port):
			from = src
			if int(binary.BigEndian.Uint16(buf[2:])) == len(got)/512+1 {
				got = append(got, buf[4:n]...)
				done = n < 516
			}
			if _, err := c.WriteToUDP([]byte{0, 4, buf[2], buf[3]}, src); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("unexpected packet %v from %v (transfer from %v)", buf[:min(n, 4)], src, from)
		}
	}
	if plain, err := cms.Open(id.Key, got); err != nil || !bytes.Equal(plain, sampleConfig) {
		t.Fatalf("open: %v", err)
	}
	outcomes := map[any]int{}
	for _, e := range h.waitEvents(2) {
		outcomes[e["outcome"]]++
	}
	if len(h.events()) != 2 || outcomes[fetch.OutcomeServed] != 1 || outcomes[fetch.OutcomeAborted] != 1 {
		t.Fatalf("events %v, want the holder's and one served", h.events())
	}
}

func TestFullServerRefusesAfterQueueWait(t *testing.T) {
	t.Parallel()
	h, _ := oneSlot(t, "SNR", 20*time.Millisecond)
	holdSlot(t, h.addr("udp4"), "SNR.enc")
	if _, err := get(t, h.addr("udp6"), "SNR.enc", 0); err == nil || !strings.Contains(err.Error(), "busy") {
		t.Fatalf("request while full: %v, want busy", err)
	}
	ev := h.waitEvents(1)
	if ev[0]["outcome"] != fetch.OutcomeBusy || !strings.Contains(ev[0]["reason"].(string), "waited up to 20ms") {
		t.Fatalf("event %v, want busy after waiting", ev[0])
	}
	if active, waiting, _ := h.srv.slots.counts(""); active != 1 || waiting != 0 {
		t.Fatalf("after the refusal: %d active, %d waiting; want 1, 0", active, waiting)
	}
}

func TestWriteRefused(t *testing.T) {
	t.Parallel()
	h := start(t, Config{}, fetch.Config{}, fakeCerts{}, nil)
	c, _ := tftp.NewClient(h.addr("udp4"))
	c.SetTimeout(2 * time.Second)
	rf, err := c.Send("SN1.enc", "octet")
	if err == nil {
		_, err = rf.ReadFrom(strings.NewReader("evil"))
	}
	if err == nil || !strings.Contains(err.Error(), "not accepted") {
		t.Fatalf("write: %v", err)
	}
	ev := h.waitEvents(1)
	if ev[0]["outcome"] != fetch.OutcomeWriteRefused || ev[0]["remote"] == "invalid AddrPort" {
		t.Fatalf("event %v", ev[0])
	}
}

// Each request yields exactly one event, whatever its outcome.
func TestOneEventPerRequest(t *testing.T) {
	t.Parallel()
	id := device(t, "SN1", keystore.P256)
	h := start(t, Config{}, fetch.Config{}, fakeCerts{"SN1": id}, nil)
	h.configs.set("SN1", sampleConfig)
	names := []string{"SN1.enc", "SN1.enc", "nope.enc", "../x", "SN9.enc", "pxe.0"}
	for _, n := range names {
		_, _ = get(t, h.addr("udp4"), n, 0)
	}
	c, _ := tftp.NewClient(h.addr("udp4"))
	if rf, err := c.Send("x.enc", "octet"); err == nil {
		_, _ = rf.ReadFrom(strings.NewReader("x"))
	}
	h.waitEvents(len(names) + 1)
	h.stop()
	if got := len(h.events()); got != len(names)+1 {
		t.Fatalf("%d events for %d requests", got, len(names)+1)
	}
}

func TestUpdateAppliesNewNames(t *testing.T) {
	t.Parallel()
	id := device(t, "SNU", keystore.P256)
	h := start(t, Config{}, fetch.Config{}, fakeCerts{"SNU": id}, nil)
	h.configs.set("SNU", sampleConfig)
	if _, err := get(t, h.addr("udp4"), "conf.SNU", 0); err == nil {
		t.Fatal("served a name before its pattern was configured")
	}
	if err := h.core.Update(fetch.Config{Names: []string{"conf.{serial}"}, Seal: cms.Options{Cipher: cms.AES128GCM}}); err != nil {
		t.Fatal(err)
	}
	data, err := get(t, h.addr("udp4"), "conf.SNU", 0)
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := cms.Open(id.Key, data); err != nil || !bytes.Equal(plain, sampleConfig) {
		t.Fatalf("open: %v", err)
	}
	if err := h.core.Update(fetch.Config{Names: []string{"nope"}}); err == nil {
		t.Fatal("pattern without {serial} accepted")
	}
}

func TestListenErrorNamesAddress(t *testing.T) {
	t.Parallel()
	busy, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	srv, err := New(Config{Listen: []string{busy.LocalAddr().String()}}, newFetcher(t, fetch.Config{}, fetch.Deps{Configs: &fakeConfigs{}, Certificates: fakeCerts{}}, nopLogger()), nopLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = srv.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), busy.LocalAddr().String()) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("got %v", err)
	}
}
