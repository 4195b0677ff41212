package sztpd

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/sealboot/sealboot/tftpd/sztp"
)

// BenchmarkGetBootstrappingData is one device's request over a kept-alive
// TLS connection, signed and encrypted, opened as the device would.
func BenchmarkGetBootstrappingData(b *testing.B) {
	l := newLab(b, nil)
	c := l.client(l.p.devices["SN1"])
	body, _ := (&sztp.GetBootstrappingDataInput{}).Encode(sztp.JSON)
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, l.url+pathOperations+rpcPrefix+rpcGet, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/yang-data+json")
		resp, err := c.Do(req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
